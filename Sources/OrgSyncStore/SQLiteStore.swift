import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

/// The embedded store: one SQLite file through GRDB (WAL, foreign keys), or memory for tests.
///
/// Hierarchy: a **materialized path** per unit (`/1/5/42/`, of compact integer unit numbers):
/// a subtree is one index range scan, ancestors are the path itself, and moving a subtree
/// rewrites the paths below it (rare). Scope of a change: one `scope_index` row per ancestor of
/// the record's unit (at most six), so "what is new for unit U" is one index range on
/// (U, seq) and costs what changed inside U's scope, however large the log elsewhere.
public final class SQLiteStore: ServerStore {
  let writer: any DatabaseWriter
  let clock: @Sendable () -> Date

  /// Opens (creating if needed) the database at `path`; nil path: a private in-memory database.
  public init(path: String?, clock: @escaping @Sendable () -> Date = { Date() }) throws {
    writer = try Self.open(path: path, cacheKiB: 65536)
    self.clock = clock
    try Self.migrator.migrate(writer)
  }

  /// How the server's and the replica's SQLite files are opened.
  ///
  /// - `synchronous = FULL` with WAL: a commit returns only after the WAL is fsynced, so what
  ///   the server acknowledges (and what a replica calls saved) survives a power cut, not just
  ///   a killed process. A push batch is one transaction, so the fsync is paid once per batch.
  /// - A busy timeout: the admin commands (`orgsyncd enroll`, `devices`, `backup`) open the same
  ///   file as a serving server and wait for its write lock instead of failing with SQLITE_BUSY.
  public static func open(path: String?, cacheKiB: Int) throws -> any DatabaseWriter {
    var configuration = Configuration()
    configuration.foreignKeysEnabled = true
    configuration.busyMode = .timeout(busyTimeout)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
      try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
      try db.execute(sql: "PRAGMA temp_store = MEMORY")
    }
    if let path {
      let pool = try DatabasePool(path: path, configuration: configuration)
      // GRDB turns on WAL after `prepareDatabase` and sets NORMAL on the writer as it does;
      // set FULL again on the (one, long-lived) writer connection. A test checks it.
      try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
      return pool
    }
    return try DatabaseQueue(configuration: configuration)
  }

  /// Seconds a connection waits for another's lock before it gives up.
  public static let busyTimeout: TimeInterval = 60

  /// `PRAGMA synchronous` as every connection of this store sees it (2 = FULL).
  public func synchronousSetting() async throws -> [Int] {
    let write = try await writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    let read = try await writer.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    return [write, read]
  }

  /// Migrations: literal names, never edited once shipped; a change is a new migration.
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE units (
            num INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            parent_num INTEGER REFERENCES units(num),
            path TEXT NOT NULL,
            moved_seq INTEGER NOT NULL DEFAULT 0
          );
          CREATE INDEX units_path ON units(path);

          CREATE TABLE records (
            id BLOB PRIMARY KEY,
            type INTEGER NOT NULL,
            unit_num INTEGER NOT NULL REFERENCES units(num),
            audience_num INTEGER REFERENCES units(num),
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            hlc INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            body BLOB NOT NULL,
            field_meta BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE INDEX records_unit ON records(unit_num, type);
          CREATE INDEX records_audience ON records(audience_num) WHERE audience_num IS NOT NULL;

          CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id BLOB NOT NULL,
            type INTEGER NOT NULL,
            version INTEGER NOT NULL,
            old_unit_num INTEGER,
            new_unit_num INTEGER NOT NULL,
            mutation_id BLOB,
            device_id BLOB,
            at INTEGER NOT NULL
          );

          CREATE TABLE scope_index (
            scope_num INTEGER NOT NULL,
            record_id BLOB NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (scope_num, record_id)
          ) WITHOUT ROWID;
          CREATE INDEX scope_index_seq ON scope_index(scope_num, seq);

          CREATE TABLE down_index (
            audience_num INTEGER NOT NULL,
            record_id BLOB NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (audience_num, record_id)
          ) WITHOUT ROWID;
          CREATE INDEX down_index_seq ON down_index(audience_num, seq);

          CREATE TABLE mutations (
            id BLOB PRIMARY KEY,
            device_id BLOB NOT NULL,
            result BLOB NOT NULL,
            at INTEGER NOT NULL
          ) WITHOUT ROWID;

          CREATE TABLE conflicts (
            id BLOB PRIMARY KEY,
            record_id BLOB NOT NULL,
            unit_num INTEGER NOT NULL,
            status INTEGER NOT NULL,
            body BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE INDEX conflicts_unit ON conflicts(unit_num, status);

          CREATE TABLE devices (
            id BLOB PRIMARY KEY,
            unit_id BLOB NOT NULL,
            role INTEGER NOT NULL,
            stored_key BLOB NOT NULL,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
          ) WITHOUT ROWID;

          CREATE TABLE enrollment_codes (
            code_hash BLOB PRIMARY KEY,
            unit_id BLOB NOT NULL,
            role INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at INTEGER,
            device_id BLOB
          ) WITHOUT ROWID;

          CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            device_id BLOB NOT NULL,
            record_id BLOB NOT NULL,
            type INTEGER NOT NULL,
            action TEXT NOT NULL,
            fields TEXT NOT NULL,
            mutation_id BLOB
          );
          CREATE INDEX audit_record ON audit(record_id);
          """)
    }
    registerHistoryMigration(&migrator)
    return migrator
  }

  var nowMillis: Int64 { Int64(clock().timeIntervalSince1970 * 1000) }
}

// MARK: - Tree

/// A unit's place in the tree.
struct UnitRow {
  var num: Int64
  var id: [UInt8]
  var path: String
  var movedSeq: Int64

  /// Unit numbers from the root down to this unit.
  var ancestorsOrSelf: [Int64] { Self.nums(path) }

  static func nums(_ path: String) -> [Int64] {
    path.split(separator: "/").compactMap { Int64($0) }
  }

  /// The half-open range of paths in this unit's subtree (itself included).
  var subtreeRange: (String, String) { (path, String(path.dropLast()) + "0") }
}

/// Read access to the tree and records inside one database transaction; the core's rules ask
/// through it.
struct Tree: ReferenceResolver {
  let db: Database
  /// Units already looked up in this transaction (cleared when a unit is placed or moved).
  var cache: UnitCache? = nil

  func unit(id: [UInt8]) throws -> UnitRow? {
    if let cached = cache?.units[id] { return cached }
    let unit = try Row.fetchOne(
      db.cachedStatement(sql: "SELECT num, id, path, moved_seq FROM units WHERE id = ?"), arguments: [Data(id)]
    ).map(Self.unitRow)
    if let unit { cache?.units[id] = unit }
    return unit
  }

  func unit(num: Int64) throws -> UnitRow? {
    try Row.fetchOne(
      db.cachedStatement(sql: "SELECT num, id, path, moved_seq FROM units WHERE num = ?"), arguments: [num]
    ).map(Self.unitRow)
  }

  static func unitRow(_ row: Row) -> UnitRow {
    UnitRow(num: row[0], id: [UInt8](row[1] as Data), path: row[2], movedSeq: row[3])
  }

  func record(_ id: [UInt8]) throws -> ReferencedRecord? {
    guard let stored = try StoredRecord.fetch(db, id: id) else { return nil }
    return ReferencedRecord(
      type: stored.type, unitID: stored.unitID, deleted: stored.deleted,
      body: (try? RecordKinds.body(type: stored.type, bytes: stored.body)) ?? Orgsync_V1_RecordBody())
  }

  func isAncestorOrSelf(_ ancestor: [UInt8], of unit: [UInt8]) throws -> Bool {
    guard let a = try self.unit(id: ancestor), let u = try self.unit(id: unit) else { return false }
    return u.path.hasPrefix(a.path)
  }

  func unitID(code: String) throws -> [UInt8]? {
    guard !code.isEmpty else { return nil }
    return try Data.fetchOne(
      db.cachedStatement(sql: "SELECT id FROM units WHERE code = ? ORDER BY num LIMIT 1"), arguments: [code]
    ).map { [UInt8]($0) }
  }
}

/// Units looked up during one write transaction; a push batch asks for the same few units
/// again and again.
final class UnitCache {
  var units: [[UInt8]: UnitRow] = [:]
}

/// A row of `records`, with its owner's id.
struct StoredRecord {
  var id: [UInt8]
  var type: Orgsync_V1_RecordType
  var unitNum: Int64
  var unitID: [UInt8]
  var unitPath: String
  var audienceNum: Int64?
  var version: Int64
  var deleted: Bool
  var hlc: UInt64
  var seq: Int64
  var body: [UInt8]
  var fieldMeta: FieldMeta

  static let columns = """
    r.id, r.type, r.unit_num, u.id, u.path, r.audience_num, r.version, r.deleted, r.hlc, r.seq, r.body, r.field_meta
    """

  static func fetch(_ db: Database, id: [UInt8]) throws -> StoredRecord? {
    try Row.fetchOne(
      db.cachedStatement(
        sql: "SELECT \(columns) FROM records r JOIN units u ON u.num = r.unit_num WHERE r.id = ?"),
      arguments: [Data(id)]
    ).map(StoredRecord.init(row:))
  }

  init(row: Row) {
    id = [UInt8](row[0] as Data)
    type = Orgsync_V1_RecordType(rawValue: row[1]) ?? .unspecified
    unitNum = row[2]
    unitID = [UInt8](row[3] as Data)
    unitPath = row[4]
    audienceNum = row[5]
    version = row[6]
    deleted = row[7]
    hlc = UInt64(bitPattern: row[8])
    seq = row[9]
    body = [UInt8](row[10] as Data)
    fieldMeta = FieldMeta(bytes: [UInt8](row[11] as Data))
  }

  init(
    id: [UInt8], type: Orgsync_V1_RecordType, unitNum: Int64, unitID: [UInt8], unitPath: String, audienceNum: Int64?,
    version: Int64, deleted: Bool, hlc: UInt64, seq: Int64, body: [UInt8], fieldMeta: FieldMeta
  ) {
    self.id = id
    self.type = type
    self.unitNum = unitNum
    self.unitID = unitID
    self.unitPath = unitPath
    self.audienceNum = audienceNum
    self.version = version
    self.deleted = deleted
    self.hlc = hlc
    self.seq = seq
    self.body = body
    self.fieldMeta = fieldMeta
  }

  /// The envelope a client receives.
  func envelope() throws -> Orgsync_V1_Record {
    var record = Orgsync_V1_Record()
    record.id = Data(id)
    record.type = type
    record.unitID = Data(type == .orgUnit ? id : unitID)
    record.version = version
    record.deleted = deleted
    record.hlc = hlc
    record.body = try RecordKinds.body(type: type, bytes: body)
    return record
  }
}

/// Per body field: the version at which it last changed, that change's HLC, and which device
/// made it (the last 8 bytes of its id). Three-way merge asks "did field f change since base
/// version b, on another device?" — one comparison per field. A device's own mutations are
/// ordered by its outbox, so its second edit of a field is never a conflict with its first,
/// even though it was written before the first one's new version was known.
struct FieldMeta {
  struct Entry {
    var version: Int64
    var hlc: UInt64
    var device: UInt64
  }

  var entries: [Int: Entry] = [:]
  /// The entry that records the record's last move to another unit (no body field is 0).
  static let moveKey = 0

  init() {}

  static func deviceTag(_ deviceID: [UInt8]) -> UInt64 {
    deviceID.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
  }

  init(bytes: [UInt8]) {
    var index = 0
    func varint() -> UInt64? { Varint.read(bytes, at: &index) }
    while let field = varint(), let version = varint(), let hlc = varint(), let device = varint() {
      entries[Int(field)] = Entry(version: Int64(version), hlc: hlc, device: device)
    }
  }

  var bytes: [UInt8] {
    var out: [UInt8] = []
    func put(_ value: UInt64) { Varint.append(value, to: &out) }
    for field in entries.keys.sorted() {
      let entry = entries[field]!
      put(UInt64(field))
      put(UInt64(entry.version))
      put(entry.hlc)
      put(entry.device)
    }
    return out
  }
}

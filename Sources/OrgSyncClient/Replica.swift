import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

/// The device's local replica of its scope: the server's records as last pulled
/// (`server_records`), what the user sees (`records` = server state + pending local edits), the
/// outbox of mutations not yet accepted, rejected mutations with their reasons, the conflict
/// inbox, the pull cursor and the device's identity. One SQLite file, mode 0600.
///
/// Record bodies and queued, sent and refused edits are sealed with the replica's key
/// (`ReplicaKey`, AES-GCM per value) before SQLite sees them, and the edit journal likewise:
/// the file, its WAL and the journal hold no member's name or phone in the clear. Ids, types,
/// units and versions stay clear, so SQL can still find and order rows.
///
/// Every local edit changes `records` and appends to `outbox` in one transaction; every pull
/// page changes `server_records`, rebases the touched records and stores the new cursor in one
/// transaction. So a process killed at any point leaves a replica that resumes correctly.
public final class Replica: Sendable {
  let writer: any DatabaseWriter
  let clock: HybridClock
  /// Where the sync engine runs the replica's blocking SQLite work (see `blocking`).
  let queue = DispatchQueue(label: "orgsync.replica")
  /// The file, nil in memory.
  public let path: String?
  /// A copy of each queued edit outside the SQLite file (nil in memory).
  let journal: OutboxJournal?
  /// Seals values before they are stored and opens them when read (no key in memory).
  let sealer: Sealer

  /// Where the edit journal of the replica at `path` lives.
  public static func journalPath(_ path: String) -> String { path + ".outbox-journal" }
  /// Where the identity of the replica at `path` is kept a second time.
  public static func identityPath(_ path: String) -> String { path + ".identity" }

  /// Opens or creates the replica at `path` (nil: in memory, for tests), sealed with `key`
  /// (required for a file). A replica written before sealing existed is sealed on its first
  /// opening with a key, and its old clear pages are wiped.
  public init(path: String?, key: ReplicaKey? = nil) throws {
    if path != nil, key == nil { throw ReplicaError("this computer's data file needs its key") }
    self.path = path
    journal = path.map { OutboxJournal(path: Self.journalPath($0)) }
    sealer = Sealer(key: key)
    var configuration = Configuration()
    // FULL: "saved" is printed only once the edit is fsynced (it survives a power cut). The
    // busy timeout lets `orgsync ui`, a timer's `sync` and a typed command share the file.
    configuration.busyMode = .timeout(60)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
      try db.execute(sql: "PRAGMA cache_size = -32768")
      // What is deleted or overwritten is zeroed, not left in free pages for a disk copy.
      try db.execute(sql: "PRAGMA secure_delete = ON")
    }
    if let path {
      let existed = FileManager.default.fileExists(atPath: path)
      let old = umask(0o077)  // the file holds the device secret and personal data
      defer { umask(old) }
      let pool = try DatabasePool(path: path, configuration: configuration)
      // GRDB sets NORMAL on the writer when it turns on WAL, after `prepareDatabase`.
      try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
      writer = pool
      if !existed { chmod(path, 0o600) }
    } else {
      writer = try DatabaseQueue(configuration: configuration)
    }
    try Self.migrator.migrate(writer)
    let last = try writer.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM state WHERE key = 'hlc'") } ?? 0
    clock = HybridClock(last: UInt64(bitPattern: last))
    try sealIfNeeded()
  }

  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE state (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
          CREATE TABLE server_records (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, unit_id BLOB NOT NULL, version INTEGER NOT NULL,
            hlc INTEGER NOT NULL, body BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE TABLE records (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, unit_id BLOB NOT NULL, version INTEGER NOT NULL,
            body BLOB NOT NULL, pending INTEGER NOT NULL DEFAULT 0
          ) WITHOUT ROWID;
          CREATE INDEX records_type ON records(type, unit_id);
          CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, mutation_id BLOB NOT NULL UNIQUE, record_id BLOB NOT NULL,
            mutation BLOB NOT NULL
          );
          CREATE INDEX outbox_record ON outbox(record_id);
          CREATE TABLE rejected (
            mutation_id BLOB PRIMARY KEY, record_id BLOB NOT NULL, type INTEGER NOT NULL, code INTEGER NOT NULL,
            field TEXT NOT NULL, reason TEXT NOT NULL, mutation BLOB NOT NULL, at INTEGER NOT NULL
          ) WITHOUT ROWID;
          CREATE TABLE conflicts (
            id BLOB PRIMARY KEY, record_id BLOB NOT NULL, status INTEGER NOT NULL, body BLOB NOT NULL,
            resolution_mutation_id BLOB
          ) WITHOUT ROWID;
          """)
    }
    migrator.registerMigration("v2-heal") { db in
      // sent: mutations the server accepted, kept so that they can be offered again if the
      // server loses them (restored from an older backup). heal_snapshot: the server copy as it
      // was when healing began. held: records the server no longer has and this device cannot
      // write back (another unit's notice): kept here and counted, never silently dropped.
      try db.execute(
        sql: """
          CREATE TABLE sent (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, mutation_id BLOB NOT NULL UNIQUE, record_id BLOB NOT NULL,
            mutation BLOB NOT NULL, at INTEGER NOT NULL
          );
          CREATE INDEX sent_record ON sent(record_id);
          CREATE TABLE heal_snapshot (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, unit_id BLOB NOT NULL, version INTEGER NOT NULL,
            hlc INTEGER NOT NULL, body BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE TABLE held (
            id BLOB PRIMARY KEY, type INTEGER NOT NULL, unit_id BLOB NOT NULL, version INTEGER NOT NULL,
            body BLOB NOT NULL, at INTEGER NOT NULL
          ) WITHOUT ROWID;
          """)
    }
    return migrator
  }

  /// Runs blocking work on this replica's own serial queue and suspends until it is done.
  ///
  /// Swift's cooperative pool has one thread per core (two on a village PC). A synchronous
  /// SQLite call that waits for an fsync or a lock would hold one of them, and with both held
  /// every other task — a connect, a handshake, a deadline — stalls behind it. A serial
  /// dispatch queue gets a thread of its own when it needs one, so async callers use this.
  public func blocking<T: Sendable>(_ body: @escaping @Sendable (Replica) throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
      queue.async { continuation.resume(with: Result { try body(self) }) }
    }
  }

  // MARK: State

  func state<T: DatabaseValueConvertible>(_ key: String, _ db: Database) throws -> T? {
    try T.fetchOne(db, sql: "SELECT value FROM state WHERE key = ?", arguments: [key])
  }

  func setState(_ key: String, _ value: (any DatabaseValueConvertible)?, _ db: Database) throws {
    try db.execute(sql: "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", arguments: [key, value])
  }

  /// The enrolled identity and where the server is.
  public struct Identity: Sendable, Hashable {
    public var server: String
    public var deviceID: [UInt8]
    public var secret: [UInt8]
    public var unitID: [UInt8]
    public var role: Orgsync_V1_DeviceRole
    public var unitName: String

    public init(
      server: String, deviceID: [UInt8], secret: [UInt8], unitID: [UInt8], role: Orgsync_V1_DeviceRole,
      unitName: String
    ) {
      self.server = server
      self.deviceID = deviceID
      self.secret = secret
      self.unitID = unitID
      self.role = role
      self.unitName = unitName
    }
  }

  public func identity() throws -> Identity? {
    try writer.read { db in
      guard let server: String = try state("server", db), let device: Data = try state("device_id", db),
        let secret: Data = try state("secret", db), let unit: Data = try state("unit_id", db),
        let role: Int = try state("role", db)
      else { return nil }
      return Identity(
        server: server, deviceID: [UInt8](device), secret: try unsealed(secret), unitID: [UInt8](unit),
        role: Orgsync_V1_DeviceRole(rawValue: role) ?? .unspecified, unitName: try state("unit_name", db) ?? "")
    }
  }

  public func setIdentity(_ identity: Identity) throws {
    try writer.write { db in
      try setState("server", identity.server, db)
      try setState("device_id", Data(identity.deviceID), db)
      // Sealed: a copied disk must not carry a credential that pulls the unit's records.
      try setState("secret", try sealed(identity.secret), db)
      try setState("unit_id", Data(identity.unitID), db)
      try setState("role", identity.role.rawValue, db)
      try setState("unit_name", identity.unitName, db)
    }
    try saveIdentityCopy()
  }

  /// Keeps the identity (and trusted authority) in a small file beside the replica, mode 0600,
  /// so that `orgsync recover` can rebuild a damaged replica without a new enrolment. The
  /// device secret in it is sealed with the replica's key.
  func saveIdentityCopy() throws {
    guard let path, let identity = try identity() else { return }
    var object: [String: Any] = [
      "server": identity.server, "device_id": Self.hex(identity.deviceID),
      "secret": Self.hex([UInt8](try sealed(identity.secret))), "sealed": sealer.key != nil,
      "unit_id": Self.hex(identity.unitID), "role": identity.role.rawValue, "unit_name": identity.unitName,
    ]
    if let pem = try trustedAuthority() { object["tls_ca"] = pem }
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    let target = Self.identityPath(path)
    let temporary = target + ".new"
    let old = umask(0o077)
    defer { umask(old) }
    guard FileManager.default.createFile(atPath: temporary, contents: data) else {
      throw ReplicaError("cannot write \(temporary)")
    }
    let fd = open(temporary, O_RDONLY)
    if fd >= 0 {
      fsync(fd)
      Glibc.close(fd)
    }
    guard rename(temporary, target) == 0 else { throw ReplicaError("cannot write \(target)") }
  }

  /// Flushes the folder holding `path`, so that a rename in it survives a power cut.
  static func syncDirectory(of path: String) {
    let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { return }
    fsync(fd)
    Glibc.close(fd)
  }

  static func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }

  static func unhex(_ text: String) -> [UInt8]? {
    var out: [UInt8] = []
    var chars = Array(text.utf8)
    guard chars.count % 2 == 0 else { return nil }
    while !chars.isEmpty {
      guard let byte = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16) else { return nil }
      out.append(byte)
      chars.removeFirst(2)
    }
    return out
  }

  /// The certificate authority (PEM) this device trusts for TLS to its server; nil: plain TCP.
  public func trustedAuthority() throws -> String? {
    try writer.read { db in try state("tls_ca", db) }
  }

  public func setTrustedAuthority(_ pem: String?) throws {
    try writer.write { db in try setState("tls_ca", pem, db) }
    try saveIdentityCopy()
  }

  /// The pull cursor (empty: never pulled).
  public func cursor() throws -> [UInt8] {
    try writer.read { db in try (state("cursor", db) as Data?).map { [UInt8]($0) } ?? [] }
  }

  /// Milliseconds since 1970 of the last complete sync, if any.
  public func lastSync() throws -> Int64? {
    try writer.read { db in try state("last_sync", db) }
  }

  /// How long accepted mutations are kept to be offered again after a server restore. Beyond
  /// it they go — and with them the personal data they carried (a deleted member's name and
  /// phone outlive the deletion by this much at most). A restore from a backup older than this
  /// cannot be healed from this PC for records untouched since; nightly backups make that moot.
  public static let sentRetentionMillis: Int64 = 180 * 86_400_000

  /// Notes a completed sync, and forgets accepted mutations past the retention period.
  public func markSynced(at millis: Int64) throws {
    try writer.write { db in
      try setState("last_sync", millis, db)
      try db.execute(sql: "DELETE FROM sent WHERE at < ?", arguments: [millis - Self.sentRetentionMillis])
    }
  }

  // MARK: Reading

  /// A record as the user sees it.
  public struct LocalRecord: Sendable, Hashable {
    public var id: [UInt8]
    public var type: Orgsync_V1_RecordType
    public var unitID: [UInt8]
    /// The server version the local state starts from (0: never on the server).
    public var version: Int64
    public var body: Orgsync_V1_RecordBody
    /// Local edits not yet accepted by the server.
    public var pending: Bool
  }

  public func records(type: Orgsync_V1_RecordType? = nil) throws -> [LocalRecord] {
    try writer.read { db in
      let rows =
        if let type {
          try Row.fetchAll(db, sql: "SELECT * FROM records WHERE type = ? ORDER BY id", arguments: [type.rawValue])
        } else {
          try Row.fetchAll(db, sql: "SELECT * FROM records ORDER BY id")
        }
      return try rows.map(localRecord)
    }
  }

  /// One page of a type's records, newest first, optionally only those owned by `units`;
  /// with the number there are in all. Only the page's records are read and decoded.
  public func recordsPage(type: Orgsync_V1_RecordType, units: [[UInt8]]? = nil, limit: Int, offset: Int) throws
    -> (records: [LocalRecord], total: Int)
  {
    try writer.read { db in
      var filter = "type = ?"
      var arguments: StatementArguments = [type.rawValue]
      if let units {
        // A county's subtree is some hundreds of units: well under SQLite's 32,766 variables.
        filter += " AND unit_id IN (" + Array(repeating: "?", count: units.count).joined(separator: ",") + ")"
        _ = arguments.append(contentsOf: StatementArguments(units.map { Data($0) }))
      }
      let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE \(filter)", arguments: arguments) ?? 0
      _ = arguments.append(contentsOf: [limit, offset])
      let rows = try Row.fetchAll(
        db, sql: "SELECT * FROM records WHERE \(filter) ORDER BY id DESC LIMIT ? OFFSET ?", arguments: arguments)
      return (try rows.map(localRecord), total)
    }
  }

  /// How many records of each type this copy holds (counted in SQL: nothing is decoded).
  public func countsByType() throws -> [Orgsync_V1_RecordType: Int] {
    try writer.read { db in
      var counts: [Orgsync_V1_RecordType: Int] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT type, count(*) FROM records GROUP BY type") {
        if let type = Orgsync_V1_RecordType(rawValue: row[0]) { counts[type] = row[1] }
      }
      return counts
    }
  }

  public func record(id: [UInt8]) throws -> LocalRecord? {
    try writer.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM records WHERE id = ?", arguments: [Data(id)]).map(localRecord)
    }
  }

  /// The records with these ids that this copy holds, by id (read in one go).
  public func records(ids: [[UInt8]]) throws -> [[UInt8]: LocalRecord] {
    try writer.read { db in
      var found: [[UInt8]: LocalRecord] = [:]
      for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
        let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
        for row in try Row.fetchAll(
          db, sql: "SELECT * FROM records WHERE id IN (\(marks))", arguments: StatementArguments(chunk.map { Data($0) })
        ) {
          let record = try localRecord(row)
          found[record.id] = record
        }
      }
      return found
    }
  }

  func localRecord(_ row: Row) throws -> LocalRecord {
    let type = Orgsync_V1_RecordType(rawValue: row["type"]) ?? .unspecified
    return LocalRecord(
      id: [UInt8](row["id"] as Data), type: type, unitID: [UInt8](row["unit_id"] as Data), version: row["version"],
      body: try RecordKinds.body(type: type, bytes: unsealed(row["body"])), pending: row["pending"])
  }

  /// The server's records as last pulled (for checks against the server).
  public func serverRecords() throws -> [Orgsync_V1_Record] {
    try writer.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM server_records ORDER BY id").map { row in
        var record = Orgsync_V1_Record()
        record.id = row["id"]
        record.type = Orgsync_V1_RecordType(rawValue: row["type"]) ?? .unspecified
        record.unitID = row["unit_id"]
        record.version = row["version"]
        record.hlc = UInt64(bitPattern: row["hlc"])
        record.body = try RecordKinds.body(type: record.type, bytes: unsealed(row["body"]))
        return record
      }
    }
  }

  /// Counts for `status`.
  public struct Status: Sendable, Hashable {
    public var records: Int
    public var outbox: Int
    public var rejected: Int
    public var openConflicts: Int
    public var lastSync: Int64?
  }

  public func status() throws -> Status {
    try writer.read { db in
      Status(
        records: try Int.fetchOne(db, sql: "SELECT count(*) FROM records") ?? 0,
        outbox: try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? 0,
        rejected: try Int.fetchOne(db, sql: "SELECT count(*) FROM rejected") ?? 0,
        openConflicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM conflicts WHERE status = 1") ?? 0,
        lastSync: try state("last_sync", db))
    }
  }

  /// A mutation the server refused, with its reason and the values that were typed.
  public struct RejectedMutation: Sendable, Hashable {
    public var mutationID: [UInt8]
    public var recordID: [UInt8]
    public var type: Orgsync_V1_RecordType
    public var code: Orgsync_V1_RejectCode
    public var field: String
    public var reason: String
    /// The edit as it was queued: its fields and values, kept until retried or discarded.
    public var mutation: Orgsync_V1_Mutation
    /// Milliseconds since 1970 when the server refused it.
    public var at: Int64
  }

  public func rejected() throws -> [RejectedMutation] {
    try writer.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM rejected ORDER BY at").map { row in
        RejectedMutation(
          mutationID: [UInt8](row["mutation_id"] as Data), recordID: [UInt8](row["record_id"] as Data),
          type: Orgsync_V1_RecordType(rawValue: row["type"]) ?? .unspecified,
          code: Orgsync_V1_RejectCode(rawValue: row["code"]) ?? .unspecified, field: row["field"],
          reason: row["reason"], mutation: try unsealedMutation(row["mutation"]),
          at: row["at"])
      }
    }
  }

  /// This device's edits of one record still waiting to go up, oldest first.
  public func pendingEdits(recordID: [UInt8]) throws -> [Orgsync_V1_Mutation] {
    try writer.read { db in
      try Data.fetchAll(
        db, sql: "SELECT mutation FROM outbox WHERE record_id = ? ORDER BY seq", arguments: [Data(recordID)]
      )
      .map(unsealedMutation)
    }
  }

  /// Ids of every mutation still waiting in the outbox, oldest first.
  public func outboxMutationIDs() throws -> [[UInt8]] {
    try writer.read { db in
      try Data.fetchAll(db, sql: "SELECT mutation_id FROM outbox ORDER BY seq").map { [UInt8]($0) }
    }
  }
}

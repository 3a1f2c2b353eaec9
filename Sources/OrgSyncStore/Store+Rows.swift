import Foundation
import OrgSyncCore
import OrgSyncProto

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
  let db: any SQLSession
  /// Units already looked up in this transaction (cleared when a unit is placed or moved).
  var cache: UnitCache? = nil

  func unit(id: [UInt8]) throws -> UnitRow? {
    if let cached = cache?.units[id] { return cached }
    let unit = try db.fetchOne("SELECT num, id, path, moved_seq FROM units WHERE id = ?", [Data(id)]).map(Self.unitRow)
    if let unit { cache?.units[id] = unit }
    return unit
  }

  func unit(num: Int64) throws -> UnitRow? {
    try db.fetchOne("SELECT num, id, path, moved_seq FROM units WHERE num = ?", [num]).map(Self.unitRow)
  }

  static func unitRow(_ row: SQLRow) -> UnitRow {
    UnitRow(num: row[0], id: [UInt8](row[1] as Data), path: row[2], movedSeq: row[3])
  }

  func record(_ id: [UInt8]) throws -> ReferencedRecord? {
    guard let stored = try cache.map({ try $0.record(id, db) }) ?? StoredRecord.fetch(db, id: id) else { return nil }
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
    return try (db.scalar("SELECT id FROM units WHERE code = ? ORDER BY num LIMIT 1", [code]) as Data?).map {
      [UInt8]($0)
    }
  }
}

/// What one write transaction has looked up: a push batch asks for the same few units again
/// and again, and its records and mutation ids are read up front in a few statements instead
/// of one round trip each (PostgreSQL answers over the network).
final class UnitCache {
  var units: [[UInt8]: UnitRow] = [:]
  /// Records read in this transaction (nil: known absent). An entry goes when the record is
  /// written here, so a savepoint rolled back never leaves a value it did not keep.
  var records: [[UInt8]: StoredRecord?] = [:]
  /// Stored results by mutation id, when the batch's ids were read up front (`prefetch`).
  var results: [Data: (result: Data, device: Data)]?
  /// Units whose records this push wrote: their roll-up shares are stale once it commits
  /// (`MutationApplier.markRollUpStale`).
  var rollUpStale: Set<Int64> = []

  /// Reads the batch's existing records and already-seen mutation ids, 500 ids a statement.
  func prefetch(_ db: any SQLSession, _ mutations: [Orgsync_V1_Mutation]) throws {
    var found: [Data: (result: Data, device: Data)] = [:]
    let mutationIDs = mutations.map { Data($0.mutationID) }
    for chunk in stride(from: 0, to: mutationIDs.count, by: 500) {
      let slice = Array(mutationIDs[chunk..<min(mutationIDs.count, chunk + 500)])
      for row in try db.fetchAll(
        "SELECT id, result, device_id FROM mutations WHERE id IN (\(placeholders(slice.count)))", slice)
      {
        found[row[0]] = (row[1], row[2])
      }
    }
    results = found
    let recordIDs = Array(Set(mutations.map { Array($0.recordID) }))
    for id in recordIDs { records[id] = .some(nil) }
    for (_, record) in try StoredRecord.fetchAll(db, ids: recordIDs.map { Data($0) }) {
      records[record.id] = .some(record)
    }
  }

  /// A record, from this transaction's reads if it was read and not written since.
  func record(_ id: [UInt8], _ db: any SQLSession) throws -> StoredRecord? {
    if let known = records[id] { return known }
    let stored = try StoredRecord.fetch(db, id: id)
    records[id] = .some(stored)
    return stored
  }
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

  /// Records by id, 500 ids a statement.
  static func fetchAll(_ db: any SQLSession, ids: [Data]) throws -> [Data: StoredRecord] {
    var result: [Data: StoredRecord] = [:]
    for chunk in stride(from: 0, to: ids.count, by: 500) {
      let slice = Array(ids[chunk..<min(ids.count, chunk + 500)])
      let rows = try db.fetchAll(
        """
        SELECT \(columns) FROM records r JOIN units u ON u.num = r.unit_num
        WHERE r.id IN (\(placeholders(slice.count)))
        """, slice)
      for row in rows {
        let record = StoredRecord(row: row)
        result[Data(record.id)] = record
      }
    }
    return result
  }

  static func fetch(_ db: any SQLSession, id: [UInt8]) throws -> StoredRecord? {
    try db.fetchOne("SELECT \(columns) FROM records r JOIN units u ON u.num = r.unit_num WHERE r.id = ?", [Data(id)])
      .map(StoredRecord.init(row:))
  }

  init(row: SQLRow) {
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

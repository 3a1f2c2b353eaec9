import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

/// Errors of local operations, in words a user can act on.
public struct ReplicaError: Error, Hashable, Sendable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

extension Replica {
  // MARK: Offline edits

  /// Creates a record locally and queues it for the server. Returns the mutation.
  @discardableResult
  public func create(
    _ body: Orgsync_V1_RecordBody, unitID: [UInt8], id: [UInt8] = RecordID.make()
  ) throws -> Orgsync_V1_Mutation {
    let type = RecordKinds.type(of: body)
    guard type != .unspecified else { throw ReplicaError("the record has no body") }
    var m = Orgsync_V1_Mutation()
    m.recordID = Data(id)
    m.type = type
    m.unitID = Data(type == .orgUnit ? id : unitID)
    m.body = body
    return try enqueue(m, requireExisting: false)
  }

  /// Sets `fields` of a record to their values in `body`.
  @discardableResult
  public func update(_ id: [UInt8], fields: [String], from body: Orgsync_V1_RecordBody) throws -> Orgsync_V1_Mutation {
    guard let current = try record(id: id) else { throw ReplicaError("there is no such record here") }
    guard RecordKinds.type(of: body) == current.type else { throw ReplicaError("the new values are of another type") }
    for field in fields where RecordKinds.fieldNumber(field, of: current.type) == nil {
      throw ReplicaError("a \(RecordNames.name(of: current.type)) has no field \(field)")
    }
    var m = Orgsync_V1_Mutation()
    m.recordID = Data(id)
    m.type = current.type
    m.unitID = Data(current.unitID)
    m.baseVersion = current.version
    m.fields = fields
    m.body = body
    return try enqueue(m, requireExisting: true)
  }

  /// Deletes a record (a tombstone on the server).
  @discardableResult
  public func delete(_ id: [UInt8]) throws -> Orgsync_V1_Mutation {
    guard let current = try record(id: id) else { throw ReplicaError("there is no such record here") }
    var m = Orgsync_V1_Mutation()
    m.recordID = Data(id)
    m.type = current.type
    m.unitID = Data(current.unitID)
    m.baseVersion = current.version
    m.delete = true
    return try enqueue(m, requireExisting: true)
  }

  /// Moves a record to another unit (a member's transfer).
  @discardableResult
  public func move(_ id: [UInt8], to unitID: [UInt8]) throws -> Orgsync_V1_Mutation {
    guard let current = try record(id: id) else { throw ReplicaError("there is no such record here") }
    guard current.type != .orgUnit else { throw ReplicaError("move a unit by changing its parent_id") }
    var m = Orgsync_V1_Mutation()
    m.recordID = Data(id)
    m.type = current.type
    m.unitID = Data(unitID)
    m.baseVersion = current.version
    m.body = current.body
    return try enqueue(m, requireExisting: true)
  }

  /// Stamps, queues and applies a mutation locally, in one transaction.
  func enqueue(_ mutation: Orgsync_V1_Mutation, requireExisting: Bool) throws -> Orgsync_V1_Mutation {
    var m = mutation
    m.mutationID = Data(RecordID.make())
    m.hlc = clock.now()
    try writer.write { db in
      let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM records WHERE id = ?", arguments: [m.recordID]) ?? false
      if requireExisting, !exists { throw ReplicaError("there is no such record here") }
      if !requireExisting, exists { throw ReplicaError("a record with this id exists already") }
      try db.execute(
        sql: "INSERT INTO outbox (mutation_id, record_id, mutation) VALUES (?, ?, ?)",
        arguments: [m.mutationID, m.recordID, try m.serializedBytes() as Data])
      try setState("hlc", Int64(bitPattern: m.hlc), db)
      try rebase([UInt8](m.recordID), db)
    }
    // Committed (and fsynced); now the second copy, before the caller says "saved".
    try journal?.append([try m.serializedBytes()])
    return m
  }

  // MARK: Local view = server state + pending edits

  /// Recomputes what the user sees of one record from the server's copy and the outbox.
  func rebase(_ id: [UInt8], _ db: Database) throws {
    var state: (type: Orgsync_V1_RecordType, unit: [UInt8], version: Int64, body: [UInt8])?
    if let row = try Row.fetchOne(
      db.cachedStatement(sql: "SELECT type, unit_id, version, body FROM server_records WHERE id = ?"),
      arguments: [Data(id)])
    {
      state = (
        Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified, [UInt8](row[1] as Data), row[2],
        [UInt8](row[3] as Data)
      )
    }
    let pending = try Data.fetchAll(
      db.cachedStatement(sql: "SELECT mutation FROM outbox WHERE record_id = ? ORDER BY seq"), arguments: [Data(id)]
    ).map { try Orgsync_V1_Mutation(serializedBytes: $0) }
    for m in pending {
      state = Self.applyLocally(m, to: state)
    }
    if let state {
      try db.cachedStatement(
        sql: "INSERT OR REPLACE INTO records (id, type, unit_id, version, body, pending) VALUES (?, ?, ?, ?, ?, ?)"
      ).execute(arguments: [
        Data(id), state.type.rawValue, Data(state.unit), state.version, Data(state.body), !pending.isEmpty,
      ])
    } else {
      try db.cachedStatement(sql: "DELETE FROM records WHERE id = ?").execute(arguments: [Data(id)])
    }
  }

  /// A mutation applied to a record's local state (nil: absent or deleted).
  static func applyLocally(
    _ m: Orgsync_V1_Mutation, to state: (type: Orgsync_V1_RecordType, unit: [UInt8], version: Int64, body: [UInt8])?
  ) -> (type: Orgsync_V1_RecordType, unit: [UInt8], version: Int64, body: [UInt8])? {
    if m.delete { return nil }
    let incoming = (try? WireFields(bytes: RecordKinds.bytes(of: m.body))) ?? WireFields()
    let unit = m.unitID.isEmpty ? (state?.unit ?? []) : Array(m.unitID)
    guard let state else {
      var fields = WireFields()
      let numbers =
        m.fields.isEmpty
        ? Array(incoming.fields.keys)
        : m.fields.compactMap {
          RecordKinds.fieldNumber($0, of: m.type)
        }
      for number in numbers { fields[number] = incoming[number] }
      return (m.type, unit, 0, fields.bytes)
    }
    var fields = (try? WireFields(bytes: state.body)) ?? WireFields()
    for name in m.fields {
      if let number = RecordKinds.fieldNumber(name, of: m.type) { fields[number] = incoming[number] }
    }
    return (state.type, unit, state.version, fields.bytes)
  }
}

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
  func enqueue(_ mutation: Orgsync_V1_Mutation, requireExisting: Bool, alsoDelete rejectedID: [UInt8]? = nil) throws
    -> Orgsync_V1_Mutation
  {
    var m = mutation
    m.mutationID = Data(RecordID.make())
    m.hlc = clock.now()
    try writer.write { db in
      if let rejectedID {
        try db.execute(sql: "DELETE FROM rejected WHERE mutation_id = ?", arguments: [Data(rejectedID)])
      }
      let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM records WHERE id = ?", arguments: [m.recordID]) ?? false
      if requireExisting, !exists { throw ReplicaError("there is no such record here") }
      if !requireExisting, exists { throw ReplicaError("a record with this id exists already") }
      try checkRules(m, db)
      try db.execute(
        sql: "INSERT INTO outbox (mutation_id, record_id, mutation) VALUES (?, ?, ?)",
        arguments: [m.mutationID, m.recordID, try sealed(m)])
      try setState("hlc", Int64(bitPattern: m.hlc), db)
      try rebase([UInt8](m.recordID), db)
    }
    // Committed (and fsynced); now the second copy, before the caller says "saved".
    try journal?.append([[UInt8](try sealed(m))])
    return m
  }

  /// The server's rights and state-machine rules (`Policy`), run on the device before an edit
  /// is queued, against the record as this device sees it: what the server would certainly
  /// refuse is refused now, with the server's words, and nothing is queued. Left to the
  /// server: what this device cannot know (a concurrent change, a revocation) — and everything
  /// before the first pull, when the replica does not hold its tree yet.
  ///
  /// Before them, the server's field checks (`Validator`) on the record as it would be stored,
  /// so that no front end — command line, web page, import — can queue a value the server
  /// would refuse for its form. References to records this replica does not hold are left to
  /// the server.
  func checkRules(_ m: Orgsync_V1_Mutation, _ db: Database) throws {
    let id = [UInt8](m.recordID)
    var current: (type: Orgsync_V1_RecordType, unit: [UInt8], version: Int64, body: [UInt8])?
    if let row = try Row.fetchOne(
      db, sql: "SELECT type, unit_id, version, body FROM records WHERE id = ?", arguments: [m.recordID])
    {
      current = (
        Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified, [UInt8](row[1] as Data), row[2],
        try unsealed(row[3])
      )
    }
    let after = Self.applyLocally(m, to: current)
    let newBytes = after?.body ?? current?.body ?? []
    let newBody = try RecordKinds.body(type: m.type, bytes: newBytes)
    func scopeUnit(_ unit: [UInt8], _ body: Orgsync_V1_RecordBody) -> [UInt8] {
      guard m.type == .orgUnit else { return unit }
      return body.orgUnit.parentID.isEmpty ? id : Array(body.orgUnit.parentID)
    }
    let oldState = try current.map {
      let body = try RecordKinds.body(type: $0.type, bytes: $0.body)
      return RecordState(id: id, type: $0.type, unitID: scopeUnit($0.unit, body), deleted: false, body: body)
    }
    let owner = m.type == .orgUnit ? id : (after?.unit ?? current?.unit ?? [UInt8](m.unitID))
    let resolver = ReplicaResolver(db: db, sealer: sealer)
    if !m.delete {
      do {
        try Validator(resolver: resolver, today: CalendarDate.today()).validate(newBody, unitID: owner)
      } catch let rejection as Rejection where rejection.code == .notFound {
        // maybe outside what this replica holds: the server judges it
      }
    }
    guard let role: Int = try state("role", db), let unit: Data = try state("unit_id", db),
      let device: Data = try state("device_id", db), (try state("cursor", db) as Data?).map({ !$0.isEmpty }) == true
    else { return }
    let actor = Actor(
      deviceID: [UInt8](device), unitID: [UInt8](unit), role: Orgsync_V1_DeviceRole(rawValue: role) ?? .unspecified)
    let newState = RecordState(
      id: id, type: m.type, unitID: scopeUnit(owner, newBody), deleted: m.delete, body: newBody)
    // The fields whose value changes, as the server counts them.
    let before = (try? WireFields(bytes: current?.body ?? [])) ?? WireFields()
    let afterFields = (try? WireFields(bytes: newBytes)) ?? WireFields()
    let numbers =
      current == nil
      ? Array(afterFields.fields.keys)
      : m.fields.compactMap {
        RecordKinds.fieldNumber($0, of: m.type)
      }
    let changed = Set(
      numbers.filter { before[$0] != afterFields[$0] }.compactMap { RecordKinds.fieldName($0, of: m.type) })
    let policy = Policy(resolver: resolver)
    try policy.authorize(actor, old: oldState, new: newState, fields: changed)
    let reviewer = try actor.unitID != owner && resolver.isAncestorOrSelf(actor.unitID, of: owner)
    let migrating = actor.role == .admin && current == nil
    if !(changed.isEmpty && !m.delete), !migrating {
      try policy.checkTransition(old: oldState, new: newState, reviewer: reviewer)
    }
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
        try unsealed(row[3])
      )
    }
    let pending = try Data.fetchAll(
      db.cachedStatement(sql: "SELECT mutation FROM outbox WHERE record_id = ? ORDER BY seq"), arguments: [Data(id)]
    ).map { try unsealedMutation($0) }
    for m in pending {
      state = Self.applyLocally(m, to: state)
    }
    if let state {
      try db.cachedStatement(
        sql: "INSERT OR REPLACE INTO records (id, type, unit_id, version, body, pending) VALUES (?, ?, ?, ?, ?, ?)"
      ).execute(arguments: [
        Data(id), state.type.rawValue, Data(state.unit), state.version, try sealed(state.body), !pending.isEmpty,
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
    // As the server does it: an edit never moves a record; only a mutation without fields does.
    let moves = state == nil || (m.fields.isEmpty && m.type != .orgUnit)
    let unit = m.unitID.isEmpty || !moves ? (state?.unit ?? Array(m.unitID)) : Array(m.unitID)
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

extension Replica {
  // MARK: Refused edits stay the user's

  /// A refused edit by the last digits of its record's or its own id (at least 6).
  public func rejectedEdit(_ text: String) throws -> RejectedMutation {
    let suffix = text.lowercased().filter { $0 != "-" }
    guard suffix.count >= 6, suffix.allSatisfy(\.isHexDigit) else {
      throw ReplicaError("'\(text)' is not an id; give the last 6–8 digits that `orgsync rejected` lists")
    }
    func ends(_ id: [UInt8]) -> Bool { RecordID.string(id).filter { $0 != "-" }.hasSuffix(suffix) }
    let all = try rejected()
    let byOwnID = all.filter { ends($0.mutationID) }
    let matches = byOwnID.isEmpty ? all.filter { ends($0.recordID) } : byOwnID
    guard matches.count == 1 else {
      throw ReplicaError(
        matches.isEmpty
          ? "no refused edit ends in \(text); see `orgsync rejected`"
          : "\(matches.count) refused edits end in \(text); give more digits")
    }
    return matches[0]
  }

  /// Queues a refused edit again, with `changes` (values for `fields`) laid over what was typed.
  /// A create whose record does not exist here is created again (same record id); anything
  /// else becomes an edit of the record as it is now. The refused entry goes once the new
  /// edit is queued.
  @discardableResult
  public func retryRejected(
    _ mutationID: [UInt8], changes: Orgsync_V1_RecordBody? = nil, fields changed: [String] = []
  ) throws -> Orgsync_V1_Mutation {
    guard let refused = try rejected().first(where: { $0.mutationID == mutationID }) else {
      throw ReplicaError("there is no such refused edit")
    }
    let old = refused.mutation
    var body = old.body
    if let changes {
      var fields = (try? WireFields(bytes: RecordKinds.bytes(of: body))) ?? WireFields()
      let incoming = (try? WireFields(bytes: RecordKinds.bytes(of: changes))) ?? WireFields()
      for name in changed {
        guard let number = RecordKinds.fieldNumber(name, of: old.type) else {
          throw ReplicaError("a \(RecordNames.name(of: old.type)) has no field \(name)")
        }
        fields[number] = incoming[number]
      }
      body = try RecordKinds.body(type: old.type, bytes: fields.bytes)
    }
    let current = try record(id: Array(old.recordID))
    var m = Orgsync_V1_Mutation()
    m.recordID = old.recordID
    m.type = old.type
    m.unitID = old.unitID
    if old.delete {
      guard let current else { throw ReplicaError("the record is gone already; discard this refused edit") }
      m.baseVersion = current.version
      m.delete = true
    } else if let current, old.fields.isEmpty, changed.isEmpty, old.unitID != Data(current.unitID) {
      // A refused move, sent again as it was: a move (no fields), not an edit of every field.
      m.baseVersion = current.version
      m.body = body
    } else if let current {
      m.baseVersion = current.version
      m.unitID = Data(current.unitID)  // an edit applies where the record is
      let set = ((try? WireFields(bytes: RecordKinds.bytes(of: body))) ?? WireFields()).fields.keys
      let named = old.fields.isEmpty ? set.compactMap { RecordKinds.fieldName($0, of: old.type) } : old.fields
      m.fields = Array(Set(named).union(changed)).sorted()
      m.body = body
    } else {
      m.body = body  // created again, under the same id
    }
    let queued = try enqueue(m, requireExisting: current != nil, alsoDelete: mutationID)
    return queued
  }

  /// Drops a refused edit for good.
  public func discardRejected(_ mutationID: [UInt8]) throws {
    try writer.write { db in
      try db.execute(sql: "DELETE FROM rejected WHERE mutation_id = ?", arguments: [Data(mutationID)])
      guard db.changesCount == 1 else { throw ReplicaError("there is no such refused edit") }
    }
  }
}

import Crypto
import Foundation
import OrgSyncCore
import OrgSyncProto

extension SQLRecordStore {
  public func push(_ mutations: [Orgsync_V1_Mutation], actor: Actor, options: PushOptions) async throws
    -> PushOutcome
  {
    let now = nowMillis
    let today = CalendarDate.today(now: clock())
    let known = try options.knownPositions.map(LogPosition.decode)
    // A unit placed or moved rewrites paths that every other write reads: alone.
    let tree = mutations.contains { $0.type == .orgUnit }
    // One transaction for the batch, one savepoint per mutation: a rejected mutation rolls back
    // alone, and the batch costs one commit (synchronous = FULL: on disk before we answer).
    return try await engine.write(exclusive: tree) { db in
      var outcome = PushOutcome()
      guard try known.allSatisfy({ try Self.holds($0, db) }) else {
        outcome.historyChanged = true
        return outcome
      }
      let cache = UnitCache()
      try cache.prefetch(db, mutations)
      outcome.results = try mutations.map {
        try self.apply($0, actor: actor, db: db, now: now, today: today, cache: cache, replay: options.replay)
      }
      try MutationApplier.markRollUpStale(db, cache.rollUpStale)
      outcome.position = try Self.position(db).bytes
      return outcome
    }
  }

  /// Applies one mutation exactly once: its id and result are stored with its effects.
  func apply(
    _ mutation: Orgsync_V1_Mutation, actor: Actor, db: any SQLSession, now: Int64, today: Orgsync_V1_Date,
    cache: UnitCache, replay: Bool = false
  ) throws -> Orgsync_V1_MutationResult {
    let mutationID = Data(mutation.mutationID)
    guard mutationID.count == 16 else {
      return Self.rejected(mutation, Rejection(.invalidField, field: "mutation_id", "mutation_id must be 16 bytes"))
    }
    let seen: (result: Data, device: Data)? =
      if let results = cache.results {
        results[mutationID]
      } else {
        try db.fetchOne("SELECT result, device_id FROM mutations WHERE id = ?", [mutationID]).map { ($0[0], $0[1]) }
      }
    if let stored = seen {
      // The key is (author, mutation id). The author is the device, or another device of the
      // same unit (a PC re-enrolled in place pushes its queue again); anyone else's reuse of an
      // id is an error that says so, and changes nothing.
      let storedDevice = [UInt8](stored.device)
      if storedDevice != actor.deviceID {
        let unit = try (db.scalar("SELECT unit_id FROM devices WHERE id = ?", [Data(storedDevice)]) as Data?)
        guard let unit, [UInt8](unit) == actor.unitID else {
          return Self.rejected(
            mutation,
            Rejection(
              .alreadyExists, field: "mutation_id",
              "this mutation id was used by another device (…\(RecordID.short(storedDevice))); make a new one"))
        }
      }
      return try Orgsync_V1_MutationResult(serializedBytes: stored.result)  // a replay: the first answer
    }
    var result = Orgsync_V1_MutationResult()
    do {
      try db.savepoint {
        result = try MutationApplier(db: db, actor: actor, now: now, today: today, cache: cache, replay: replay)
          .apply(mutation)
      }
    } catch let rejection as Rejection {
      result = Self.rejected(mutation, rejection)
    }
    if mutation.type == .orgUnit {  // paths may have changed or rolled back
      cache.units.removeAll()
      cache.records.removeAll()
    }
    let stored = try result.serializedBytes() as Data
    try db.execute(
      "INSERT INTO mutations (id, device_id, result, at) VALUES (?, ?, ?, ?)",
      [mutationID, Data(actor.deviceID), stored, now])
    cache.results?[mutationID] = (stored, Data(actor.deviceID))  // the same id again in this batch
    return result
  }

  static func rejected(_ mutation: Orgsync_V1_Mutation, _ rejection: Rejection) -> Orgsync_V1_MutationResult {
    var result = Orgsync_V1_MutationResult()
    result.mutationID = mutation.mutationID
    result.outcome = .rejected
    result.rejectCode = rejection.code
    result.field = rejection.field
    result.reason = rejection.reason
    return result
  }

  public func importUnits(_ units: [(id: [UInt8], unit: Orgsync_V1_OrgUnit)]) async throws
    -> [Orgsync_V1_MutationResult]
  {
    let now = nowMillis
    let today = CalendarDate.today(now: clock())
    return try await engine.write(exclusive: true) { db in
      try units.map { item in
        var body = Orgsync_V1_RecordBody()
        body.orgUnit = item.unit
        var mutation = Orgsync_V1_Mutation()
        mutation.mutationID = Data(RecordID.make())
        mutation.recordID = Data(item.id)
        mutation.type = .orgUnit
        mutation.unitID = Data(item.id)
        mutation.body = body
        mutation.hlc = UInt64(now) << 16
        if let existing = try StoredRecord.fetch(db, id: item.id) {
          // An update names the fields that differ (a rename, a new kind, a new parent), so the
          // merge applies them; an unchanged unit names none and changes nothing.
          mutation.baseVersion = existing.version
          let before = (try? WireFields(bytes: existing.body)) ?? WireFields()
          let after = (try? WireFields(bytes: RecordKinds.bytes(of: body))) ?? WireFields()
          mutation.fields = Set(before.fields.keys).union(after.fields.keys).sorted()
            .filter { before[$0] != after[$0] }
            .compactMap { RecordKinds.fieldName($0, of: .orgUnit) }
            // Contact fields are the branch's own; an import of the hierarchy leaves them be.
            .filter { !["secretary", "phone", "address"].contains($0) }
        }
        let admin = Actor(deviceID: [], unitID: [], role: .admin)
        var result = Orgsync_V1_MutationResult()
        do {
          try db.savepoint {
            result = try MutationApplier(
              db: db, actor: admin, now: now, today: today, cache: UnitCache(), importing: true
            ).apply(mutation)
          }
        } catch let rejection as Rejection {
          result = Self.rejected(mutation, rejection)
        }
        return result
      }
    }
  }
}

/// The steps of one mutation, inside its savepoint. Throws `Rejection` to refuse it.
struct MutationApplier {
  let db: any SQLSession
  let actor: Actor
  let now: Int64
  let today: Orgsync_V1_Date
  let cache: UnitCache
  var importing = false
  /// A mutation offered again after the server lost it (see `PushOptions.replay`).
  var replay = false
  var tree: Tree { Tree(db: db, cache: cache) }

  func apply(_ mutation: Orgsync_V1_Mutation) throws -> Orgsync_V1_MutationResult {
    var m = mutation
    let recordID = Array(m.recordID)
    guard recordID.count == 16 else { throw Rejection(.invalidField, field: "record_id", "record_id must be 16 bytes") }
    guard RecordKinds.all.contains(m.type) else {
      throw Rejection(.invalidField, field: "type", "unknown record type \(m.type.rawValue)")
    }
    let existing = try cache.record(recordID, db)
    if let existing, existing.type != m.type {
      throw Rejection(.alreadyExists, field: "record_id", "a record with this id exists with another type")
    }
    let deleter = try existing.flatMap { try unseenDelete(m, existing: $0) }
    if !m.delete, RecordKinds.type(of: m.body) != m.type {
      throw Rejection(.invalidField, field: "body", "the body does not match the record type")
    }
    let incoming: WireFields
    do {
      incoming = try WireFields(bytes: RecordKinds.bytes(of: m.body))
    } catch {
      throw Rejection(.invalidField, field: "body", "the body is not a well-formed message")
    }

    // 1. Merge field by field against the base version.
    let device = FieldMeta.deviceTag(actor.deviceID)
    if replay, let existing, m.baseVersion > existing.version {
      m.baseVersion = existing.version  // the device saw versions this server lost: land on what is stored
    }
    let (fields, merged, changed, conflicts, version) = try merge(m, existing: existing, incoming: incoming)
    var meta = merged

    // 2. The record as it would be stored.
    let body: Orgsync_V1_RecordBody
    do {
      body = try RecordKinds.body(type: m.type, bytes: fields.bytes)
    } catch {
      throw Rejection(.invalidField, field: "body", "the body does not decode as a \(RecordNames.name(of: m.type))")
    }
    let ownerID: [UInt8]
    if m.type == .orgUnit {
      guard m.unitID.isEmpty || Array(m.unitID) == recordID else {
        throw Rejection(.invalidField, field: "unit_id", "a unit record's unit is the unit itself")
      }
      ownerID = recordID
    } else if let existing, m.unitID.isEmpty || !m.fields.isEmpty || m.delete {
      // An edit or a delete never moves a record: it applies where the record is now, whatever
      // unit its author saw. A move is its own mutation (no fields) with its own base.
      ownerID = existing.unitID
    } else {
      ownerID = Array(m.unitID)
    }
    let moved = existing.map { $0.unitID != ownerID } ?? false
    if moved { meta.entries[FieldMeta.moveKey] = FieldMeta.Entry(version: version, hlc: m.hlc, device: device) }
    let parentMoved: Bool = {
      guard m.type == .orgUnit, let existing,
        case .orgUnit(let before)? = try? RecordKinds.body(type: .orgUnit, bytes: existing.body).kind
      else { return false }
      return before.parentID != body.orgUnit.parentID
    }()
    if m.type != .orgUnit, try tree.unit(id: ownerID) == nil {
      throw Rejection(.notFound, field: "unit_id", "unit_id refers to no unit")
    }
    if !m.delete {
      try Validator(resolver: tree, today: today).validate(body, unitID: ownerID)
    }

    // 3. Rights and state rules.
    let fieldNames = Set(changed.compactMap { RecordKinds.fieldName($0, of: m.type) })
    if !importing {
      let oldState = try existing.map { e in
        RecordState(
          id: recordID, type: m.type, unitID: try scopeUnit(type: m.type, id: recordID, unitID: e.unitID, body: e.body),
          deleted: false, body: try RecordKinds.body(type: m.type, bytes: e.body))
      }
      let newState = RecordState(
        id: recordID, type: m.type, unitID: m.type == .orgUnit ? parentOrSelf(recordID, body) : ownerID,
        deleted: m.delete, body: body)
      let policy = Policy(resolver: tree)
      do {
        try policy.authorize(actor, old: oldState, new: newState, fields: fieldNames)
      } catch let refusal as Rejection {
        // An edit by a device that had not seen the record move away from its unit: the typed
        // values are kept in a conflict both units see, never refused for a move nobody made.
        guard let existing, let move = try unseenMove(m, existing: existing) else { throw refusal }
        return try keepAgainstMove(m, existing: existing, incoming: incoming, move: move)
      }
      let reviewer = try actor.unitID != ownerID && tree.isAncestorOrSelf(actor.unitID, of: ownerID)
      // An administrator may load records in any state (history being migrated in).
      let migrating = actor.role == .admin && existing == nil
      if !(fieldNames.isEmpty && !m.delete), !migrating {
        try policy.checkTransition(old: oldState, new: newState, reviewer: reviewer)
      }
    }

    var result = Orgsync_V1_MutationResult()
    result.mutationID = m.mutationID
    // Delete vs edit: a delete that had not seen another device's edits keeps the record.
    if m.delete, let existing {
      let unseen = meta.entries.filter {
        $0.key != FieldMeta.moveKey && $0.value.version > m.baseVersion && $0.value.device != device
      }
      if !unseen.isEmpty {
        return try keepAgainstDelete(m, existing: existing, fields: fields, unseen: unseen)
      }
    }

    let nothingChanged = changed.isEmpty && !m.delete && !moved && existing != nil && deleter == nil
    if nothingChanged {
      result.outcome = conflicts.isEmpty ? .applied : .conflict
      result.version = existing!.version
    } else {
      // 4. Hierarchy, record, change log, scope indexes.
      if m.type == .orgUnit {
        try placeUnit(recordID, body: body.orgUnit, isNew: existing == nil, moved: parentMoved)
        try db.execute("UPDATE units SET code = ? WHERE id = ?", [m.delete ? nil : body.orgUnit.code, Data(recordID)])
      }
      guard let owner = try tree.unit(id: ownerID) else {
        throw Rejection(.notFound, field: "unit_id", "unit_id refers to no unit")
      }
      let audience = try audienceNum(type: m.type, body: body, owner: owner)
      let seq = try logChange(
        recordID: recordID, type: m.type, version: version, oldUnit: existing?.unitNum, newUnit: owner.num,
        mutationID: Array(m.mutationID))
      let deleted = m.delete
      cache.records[recordID] = nil  // written here: read it again if asked
      try db.execute(
        """
        INSERT INTO records (id, type, unit_num, audience_num, version, deleted, hlc, seq, body, field_meta)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, unit_num = excluded.unit_num,
          audience_num = excluded.audience_num, version = excluded.version, deleted = excluded.deleted,
          hlc = excluded.hlc, seq = excluded.seq, body = excluded.body, field_meta = excluded.field_meta
        """,
        [
          Data(recordID), m.type.rawValue, owner.num, audience, version, deleted,
          Int64(bitPattern: max(m.hlc, existing?.hlc ?? 0)), seq, Data(fields.bytes), Data(meta.bytes),
        ])
      // Unit records are read afresh by every roll-up; any other record is in its unit's share.
      if m.type != .orgUnit { cache.rollUpStale.formUnion([owner.num, existing?.unitNum].compactMap { $0 }) }
      var scopes = Set(owner.ancestorsOrSelf)
      if let existing, existing.unitNum != owner.num { scopes.formUnion(UnitRow.nums(existing.unitPath)) }
      var audiences = Set([audience].compactMap { $0 })
      if let old = existing?.audienceNum { audiences.insert(old) }
      try index(recordID: recordID, seq: seq, scopes: scopes, audiences: audiences)
      if m.type == .orgUnit, parentMoved { try reindexSubtree(of: owner) }
      result.outcome =
        conflicts.isEmpty ? (existing.map { $0.version > m.baseVersion } == true ? .merged : .applied) : .conflict
      result.version = version
      try audit(
        m,
        action: existing == nil
          ? "create" : m.delete ? "delete" : deleter != nil ? "restore" : moved || parentMoved ? "move" : "update",
        fields: fieldNames)
    }

    if m.type == .transfer, !m.delete, fieldNames.contains("status"), body.transfer.status == .accepted,
      existing.map({ (try? Orgsync_V1_Transfer(serializedBytes: $0.body))?.status != .accepted }) ?? true
    {
      try moveTransferredMember(body.transfer, issuer: ownerID, mutationID: Array(m.mutationID), hlc: m.hlc)
    }

    if let deleter {
      var conflict = Orgsync_V1_Conflict()
      conflict.kind = .editVsDelete
      conflict.fields = changed.compactMap { RecordKinds.fieldName($0, of: m.type) }
      var applied = WireFields()
      for number in changed { applied[number] = fields[number] }
      conflict.winner = try RecordKinds.body(type: m.type, bytes: applied.bytes)
      conflict.loser = try RecordKinds.body(type: m.type, bytes: [])
      conflict.winnerMutationID = m.mutationID
      conflict.loserMutationID = deleter.mutation
      conflict.winnerHlc = m.hlc
      conflict.loserHlc = existing?.hlc ?? 0
      let id = try store(conflict, recordID: recordID, ownerID: ownerID, type: m.type)
      result.outcome = .conflict
      result.conflictIds.append(id)
      try audit(m, action: "conflict", fields: Set(conflict.fields))
    }

    // Move vs edit: both applied; the units on both sides of the move are told.
    if let existing, !m.delete, deleter == nil, let crossed = try crossedMove(m, existing: existing, moved: moved) {
      var conflict = Orgsync_V1_Conflict()
      conflict.kind = .moveVsEdit
      conflict.fields = crossed.fields
      var values = WireFields()
      for name in crossed.fields {
        if let number = RecordKinds.fieldNumber(name, of: m.type) { values[number] = fields[number] }
      }
      conflict.winner = try RecordKinds.body(type: m.type, bytes: values.bytes)
      conflict.loser = try RecordKinds.body(type: m.type, bytes: [])
      conflict.winnerMutationID = m.mutationID
      conflict.loserMutationID = crossed.otherMutation
      conflict.winnerHlc = m.hlc
      conflict.loserHlc = existing.hlc
      // The unit the record left, the one it joined, and the one the edit's author knew.
      let known = m.unitID.isEmpty ? [] : [Array(m.unitID)]
      for unit in Set([ownerID, existing.unitID] + known) where try tree.unit(id: unit) != nil {
        result.conflictIds.append(try store(conflict, recordID: recordID, ownerID: unit, type: m.type))
      }
      result.outcome = .conflict
      try audit(m, action: "conflict", fields: Set(conflict.fields))
    }

    // 5. Conflicts: the losing values are kept where the unit and its parent can see them.
    if !conflicts.isEmpty {
      var winner = WireFields()
      var loser = WireFields()
      var names: [String] = []
      var storedHLC: UInt64 = 0
      var storedVersion: Int64 = 0
      var incomingWins = false
      for c in conflicts {
        names.append(RecordKinds.fieldName(c.field, of: m.type) ?? String(c.field))
        winner[c.field] = c.incomingWins ? incoming[c.field] : c.stored
        loser[c.field] = c.incomingWins ? c.stored : incoming[c.field]
        storedHLC = max(storedHLC, c.storedHLC)
        storedVersion = max(storedVersion, c.storedVersion)
        incomingWins = incomingWins || c.incomingWins
      }
      let otherMutation =
        try
        (db.scalar(
          "SELECT mutation_id FROM changes WHERE record_id = ? AND version = ?", [Data(recordID), storedVersion])
        as Data?) ?? Data()
      var conflict = Orgsync_V1_Conflict()
      conflict.kind = .fields
      conflict.fields = names
      conflict.winner = try RecordKinds.body(type: m.type, bytes: winner.bytes)
      conflict.loser = try RecordKinds.body(type: m.type, bytes: loser.bytes)
      conflict.winnerMutationID = incomingWins ? m.mutationID : otherMutation
      conflict.loserMutationID = incomingWins ? otherMutation : m.mutationID
      conflict.winnerHlc = incomingWins ? m.hlc : storedHLC
      conflict.loserHlc = incomingWins ? storedHLC : m.hlc
      result.conflictIds.append(try store(conflict, recordID: recordID, ownerID: ownerID, type: m.type))
      try audit(m, action: "conflict", fields: Set(names))
    }
    return result
  }

  /// Field numbers a mutation names. An edit that names none changes no body field (a move or
  /// a delete); only a create takes every field it carries.
  func fieldNumbers(_ m: Orgsync_V1_Mutation) throws -> [Int] {
    try m.fields.map { name in
      guard let number = RecordKinds.fieldNumber(name, of: m.type) else {
        throw Rejection(.invalidField, field: name, "a \(RecordNames.name(of: m.type)) has no field \(name)")
      }
      return number
    }
  }

  func parentOrSelf(_ id: [UInt8], _ body: Orgsync_V1_RecordBody) -> [UInt8] {
    body.orgUnit.parentID.isEmpty ? id : Array(body.orgUnit.parentID)
  }

  func scopeUnit(type: Orgsync_V1_RecordType, id: [UInt8], unitID: [UInt8], body: [UInt8]) throws -> [UInt8] {
    guard type == .orgUnit else { return unitID }
    return parentOrSelf(id, try RecordKinds.body(type: .orgUnit, bytes: body))
  }

  /// Notices reach their audience's subtree; a unit's own record reaches its descendants.
  func audienceNum(type: Orgsync_V1_RecordType, body: Orgsync_V1_RecordBody, owner: UnitRow) throws -> Int64? {
    switch type {
    case .orgUnit: return owner.num
    case .notice: return try tree.unit(id: Array(body.notice.audienceRootID))?.num
    // The receiving unit (and anything under it) sees a transfer addressed to it.
    case .transfer: return try tree.unitID(code: body.transfer.toUnitCode).flatMap { try tree.unit(id: $0)?.num }
    default: return nil
    }
  }

  /// Inserts or moves a unit in the tree (paths of its subtree follow).
  func placeUnit(_ id: [UInt8], body: Orgsync_V1_OrgUnit, isNew: Bool, moved: Bool) throws {
    defer { cache.units.removeAll() }
    let parent = body.parentID.isEmpty ? nil : try tree.unit(id: Array(body.parentID))
    if !body.parentID.isEmpty, parent == nil {
      throw Rejection(.notFound, field: "parent_id", "parent_id refers to no unit")
    }
    if isNew {
      if parent == nil,
        try (db.scalar("SELECT count(*) FROM units WHERE parent_num IS NULL") as Int64?) ?? 0 > 0
      {
        throw Rejection(.invalidField, field: "parent_id", "there is a root unit already; a new unit needs a parent")
      }
      let num: Int64 =
        try db.scalar(
          "INSERT INTO units (id, parent_num, path) VALUES (?, ?, '') RETURNING num", [Data(id), parent?.num])
        ?? 0
      try db.execute("UPDATE units SET path = ? WHERE num = ?", [(parent?.path ?? "/") + "\(num)/", num])
    } else if moved {
      guard let unit = try tree.unit(id: id), let parent else {
        throw Rejection(.invalidField, field: "parent_id", "the root unit cannot be moved")
      }
      guard !parent.path.hasPrefix(unit.path) else {
        throw Rejection(.invalidField, field: "parent_id", "a unit cannot move below itself")
      }
      let newPath = parent.path + "\(unit.num)/"
      let (low, high) = unit.subtreeRange
      try db.execute(
        "UPDATE units SET path = ? || substr(path, CAST(? AS INTEGER)) WHERE path >= ? AND path < ?",
        [newPath, unit.path.count + 1, low, high])
      try db.execute("UPDATE units SET parent_num = ? WHERE num = ?", [parent.num, unit.num])
    }
  }
}

extension MutationApplier {
  /// Moves the roll-up generation of the units whose records a push changed (both units, when
  /// a record changed hands), once per push and in its transaction: their kept roll-up shares
  /// are no longer used (`SQLRecordStore.rollUp`). A unit marked by a mutation that was then
  /// refused only costs its share being read again.
  static func markRollUpStale(_ db: any SQLSession, _ units: Set<Int64>) throws {
    let nums = units.sorted()
    for start in stride(from: 0, to: nums.count, by: 500) {
      let batch = nums[start..<min(nums.count, start + 500)]
      try db.execute(
        """
        INSERT INTO rollup_gen (unit_num, gen) VALUES \(Array(repeating: "(?, 1)", count: batch.count).joined(separator: ", "))
        ON CONFLICT (unit_num) DO UPDATE SET gen = rollup_gen.gen + 1
        """, batch.map { $0 as any SQLBindable })
    }
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto

/// The merge of one mutation into the stored record and the conflicts it can meet
/// (docs/ARCHITECTURE.md, "Merge rule"): field against field, delete against edit, move
/// against edit. `MutationApplier.apply` calls these steps in order.
extension MutationApplier {
  /// Edit vs delete: an edit made without knowing of another device's delete brings the record
  /// back (an edit always wins over a delete it did not see; the delete is kept as the losing
  /// side of a conflict, and "keep the loser" deletes again). Returns the delete's device and
  /// mutation when `m` is such an edit; nil when the record is not deleted; throws otherwise.
  func unseenDelete(_ m: Orgsync_V1_Mutation, existing: StoredRecord) throws -> (device: Data, mutation: Data)? {
    guard existing.deleted else { return nil }
    let row = try db.fetchOne(
      "SELECT device_id, mutation_id FROM changes WHERE record_id = ? AND version = ?", [m.recordID, existing.version])
    guard !m.delete, m.baseVersion > 0, m.baseVersion < existing.version, let row,
      (row[0] as Data?).map({ [UInt8]($0) }) != actor.deviceID
    else {
      throw Rejection(.notFound, field: "record_id", "this \(RecordNames.name(of: m.type)) was deleted")
    }
    return ((row[0] as Data?) ?? Data(), (row[1] as Data?) ?? Data())
  }

  /// Whether `m` crossed another device's change of the other kind since its base: a move that
  /// had not seen field edits (returns those fields), or an edit that had not seen a move
  /// (returns the fields it sets). Nil when nothing crossed.
  func crossedMove(_ m: Orgsync_V1_Mutation, existing: StoredRecord, moved: Bool) throws -> (
    fields: [String], otherMutation: Data
  )? {
    guard existing.type != .orgUnit else { return nil }
    let device = FieldMeta.deviceTag(actor.deviceID)
    if moved {
      let unseen = existing.fieldMeta.entries.filter {
        $0.key != FieldMeta.moveKey && $0.value.version > m.baseVersion && $0.value.device != device
      }
      guard let latest = unseen.values.max(by: { $0.version < $1.version }) else { return nil }
      let other =
        try
        (db.scalar("SELECT mutation_id FROM changes WHERE record_id = ? AND version = ?", [m.recordID, latest.version])
        as Data?) ?? Data()
      return (unseen.keys.sorted().compactMap { RecordKinds.fieldName($0, of: m.type) }, other)
    }
    // The last move is kept in the field metadata under number 0 (no body field has it).
    guard !m.fields.isEmpty, let move = existing.fieldMeta.entries[FieldMeta.moveKey], move.version > m.baseVersion,
      move.device != device
    else { return nil }
    let other =
      try
      (db.scalar("SELECT mutation_id FROM changes WHERE record_id = ? AND version = ?", [m.recordID, move.version])
      as Data?) ?? Data()
    return (m.fields, other)
  }

  /// A field changed on both sides since the base: which side's value was stored.
  typealias FieldConflict = (field: Int, incomingWins: Bool, stored: [UInt8]?, storedHLC: UInt64, storedVersion: Int64)

  /// Step 1: the stored fields with the mutation's laid over them, field by field against its
  /// base version (docs/ARCHITECTURE.md, "Merge rule"): the new fields and field metadata, the
  /// numbers of the fields that change, the fields changed on both sides, the new version.
  func merge(_ m: Orgsync_V1_Mutation, existing: StoredRecord?, incoming: WireFields) throws -> (
    fields: WireFields, meta: FieldMeta, changed: [Int], conflicts: [FieldConflict], version: Int64
  ) {
    let device = FieldMeta.deviceTag(actor.deviceID)
    var changed: [Int] = []
    var conflicts: [FieldConflict] = []
    guard let existing else {
      guard !m.delete else { throw Rejection(.notFound, field: "record_id", "there is no such record to delete") }
      guard m.baseVersion == 0 else {
        throw Rejection(.notFound, field: "record_id", "this \(RecordNames.name(of: m.type)) does not exist")
      }
      var fields = WireFields()
      var meta = FieldMeta()
      let numbers = m.fields.isEmpty ? Array(incoming.fields.keys) : try fieldNumbers(m)
      for number in numbers where incoming[number] != nil {
        fields[number] = incoming[number]
        meta.entries[number] = FieldMeta.Entry(version: 1, hlc: m.hlc, device: device)
        changed.append(number)
      }
      return (fields, meta, changed, conflicts, 1)
    }
    guard m.baseVersion >= 0, m.baseVersion <= existing.version else {
      throw Rejection(.invalidField, field: "base_version", "base_version is newer than the record")
    }
    guard var fields = try? WireFields(bytes: existing.body) else {
      throw Rejection(.invalidField, field: "body", "the stored record cannot be read")
    }
    var meta = existing.fieldMeta
    let version = existing.version + 1
    if !m.delete {
      for number in try fieldNumbers(m) {
        let stored = fields[number]
        let proposed = incoming[number]
        guard stored != proposed else { continue }
        let last = meta.entries[number] ?? FieldMeta.Entry(version: 0, hlc: 0, device: 0)
        // Healing after a restore: edits are offered again in whatever order the PCs come
        // back, with bases from a history the server lost. The field keeps the value with the
        // later clock — the one accepted last before the restore — whoever heals first.
        if replay, last.hlc > m.hlc { continue }
        // This device's own later edit of the field is stored already (its clock only moves
        // forward): an older one arriving after it does not overwrite it; it is kept as the
        // losing side of a conflict, so the typed value is still there to take back.
        if last.version > m.baseVersion, last.device == device, last.hlc > m.hlc {
          conflicts.append((number, false, stored, last.hlc, last.version))
          continue
        }
        if last.version > m.baseVersion, last.device != device {
          // Changed on both sides since the base: the later clock wins, the other is kept.
          let incomingWins = m.hlc > last.hlc
          conflicts.append((number, incomingWins, stored, last.hlc, last.version))
          guard incomingWins else { continue }
        }
        fields[number] = proposed
        meta.entries[number] = FieldMeta.Entry(version: version, hlc: m.hlc, device: device)
        changed.append(number)
      }
    }
    return (fields, meta, changed, conflicts, version)
  }

  /// Stores a conflict (open) where the owning unit and every unit above it see it; returns its id.
  func store(_ conflict: Orgsync_V1_Conflict, recordID: [UInt8], ownerID: [UInt8], type: Orgsync_V1_RecordType)
    throws -> Data
  {
    var conflict = conflict
    conflict.id = Data(RecordID.make())
    conflict.recordID = Data(recordID)
    conflict.type = type
    conflict.unitID = Data(ownerID)
    conflict.status = .open
    let ownerNum = try tree.unit(id: ownerID)?.num ?? 0
    try db.execute(
      "INSERT INTO conflicts (id, record_id, unit_num, status, body) VALUES (?, ?, ?, ?, ?)",
      [
        conflict.id, Data(recordID), ownerNum, conflict.status.rawValue, try conflict.serializedBytes() as Data,
      ])
    return conflict.id
  }

  /// A delete that had not seen other devices' edits (`unseen`: field → its last change): the
  /// record stays as it is, and a conflict names the edits that kept it.
  func keepAgainstDelete(
    _ m: Orgsync_V1_Mutation, existing: StoredRecord, fields: WireFields, unseen: [Int: FieldMeta.Entry]
  ) throws -> Orgsync_V1_MutationResult {
    var kept = WireFields()
    for number in unseen.keys { kept[number] = fields[number] }
    let latest = unseen.values.max { $0.version < $1.version }!
    var conflict = Orgsync_V1_Conflict()
    conflict.kind = .deleteVsEdit
    conflict.fields = unseen.keys.sorted().compactMap { RecordKinds.fieldName($0, of: m.type) }
    conflict.winner = try RecordKinds.body(type: m.type, bytes: kept.bytes)
    conflict.loser = try RecordKinds.body(type: m.type, bytes: [])
    conflict.winnerMutationID =
      try
      (db.scalar("SELECT mutation_id FROM changes WHERE record_id = ? AND version = ?", [m.recordID, latest.version])
      as Data?) ?? Data()
    conflict.loserMutationID = m.mutationID
    conflict.winnerHlc = latest.hlc
    conflict.loserHlc = m.hlc
    let id = try store(conflict, recordID: Array(m.recordID), ownerID: existing.unitID, type: m.type)
    try audit(m, action: "conflict", fields: Set(conflict.fields))
    var result = Orgsync_V1_MutationResult()
    result.mutationID = m.mutationID
    result.outcome = .conflict
    result.version = existing.version
    result.conflictIds = [id]
    return result
  }

  /// The record's last move when `m` is an edit by another device that had not seen it (its
  /// base is older and it names the unit the record left).
  /// Only when the unit it names is the one the record left by that move, and the author may
  /// write there: anything else is refused as before (no device can have a conflict made in a
  /// unit of its choosing).
  func unseenMove(_ m: Orgsync_V1_Mutation, existing: StoredRecord) throws -> FieldMeta.Entry? {
    guard existing.type != .orgUnit, !m.fields.isEmpty, !m.delete, !m.unitID.isEmpty,
      Array(m.unitID) != existing.unitID, let move = existing.fieldMeta.entries[FieldMeta.moveKey],
      move.version > m.baseVersion, move.device != FieldMeta.deviceTag(actor.deviceID),
      try tree.isAncestorOrSelf(actor.unitID, of: Array(m.unitID)),
      let left = try tree.unit(id: Array(m.unitID))
    else { return nil }
    let from: Int64? = try db.scalar(
      "SELECT old_unit_num FROM changes WHERE record_id = ? AND version = ?", [m.recordID, move.version])
    return from == left.num ? move : nil
  }

  /// An edit that had not seen the record's move, by a device with no rights where the record
  /// is now: nothing is applied, and the typed values are the losing side of a MOVE_VS_EDIT
  /// conflict stored for the unit its author knew and the unit the record joined (so both, and
  /// everyone above them, see it; the new unit can apply the values with "keep the lost value").
  func keepAgainstMove(
    _ m: Orgsync_V1_Mutation, existing: StoredRecord, incoming: WireFields, move: FieldMeta.Entry
  ) throws -> Orgsync_V1_MutationResult {
    var typed = WireFields()
    for number in try fieldNumbers(m) { typed[number] = incoming[number] }
    var conflict = Orgsync_V1_Conflict()
    conflict.kind = .moveVsEdit
    conflict.fields = m.fields
    // The record's current values are not the old unit's to see any more: the kept side stays
    // empty; the new unit reads them on its own copy.
    conflict.winner = try RecordKinds.body(type: m.type, bytes: [])
    conflict.loser = try RecordKinds.body(type: m.type, bytes: typed.bytes)
    conflict.winnerMutationID =
      try
      (db.scalar("SELECT mutation_id FROM changes WHERE record_id = ? AND version = ?", [m.recordID, move.version])
      as Data?) ?? Data()
    conflict.loserMutationID = m.mutationID
    conflict.winnerHlc = move.hlc
    conflict.loserHlc = m.hlc
    var result = Orgsync_V1_MutationResult()
    for unit in [Array(m.unitID), existing.unitID] where try tree.unit(id: unit) != nil {
      result.conflictIds.append(try store(conflict, recordID: Array(m.recordID), ownerID: unit, type: m.type))
    }
    try audit(m, action: "conflict", fields: Set(m.fields))
    result.mutationID = m.mutationID
    result.outcome = .conflict
    result.version = existing.version
    return result
  }
}

import OrgSyncProto

/// Which personal fields a device receives (docs/ARCHITECTURE.md, "Personal data by role").
///
/// A branch keeps its own people's records whole: it collected them and works with them. A
/// committee device (township, county) needs its subordinate units' members to count and to
/// check them — names, status, the development dates, gender, education, ethnicity, cadre
/// posts — but not how to phone them, the free-text notes about them, their birth dates, or
/// who gave an opinion. Those stay with the branch and on the server. An admin device, which
/// maintains the records, receives everything. The server applies this on every record and
/// conflict it sends; the store itself always holds the whole record.
public enum PersonalData {
  /// Every personal field, by record type (for the log of what was served).
  public static let fields: [Orgsync_V1_RecordType: [String]] = [
    .member: [
      "name", "gender", "birth_date", "ethnicity", "education", "occupation", "phone", "note", "dues_base_fen",
    ],
    .opinion: ["respondent"],
    .orgUnit: ["secretary", "phone"],
    .liaisonPoint: ["cadre_name"],
    .lecture: ["speaker_name"],
    .transfer: ["member_name"],
    .assessment: ["partner"],
  ]

  /// Fields withheld from a committee device for records of units other than its own.
  public static let withheldBelow: [Orgsync_V1_RecordType: [String]] = [
    .member: ["birth_date", "phone", "note"],
    .opinion: ["respondent"],
  ]

  /// The fields of `record` that `actor` does not receive.
  public static func withheld(from actor: Actor, record: Orgsync_V1_Record) -> [String] {
    guard actor.role == .committee, Array(record.unitID) != actor.unitID else { return [] }
    return withheldBelow[record.type] ?? []
  }

  /// Clears what `actor` does not receive from a record's body.
  public static func redact(_ record: inout Orgsync_V1_Record, for actor: Actor) {
    let fields = withheld(from: actor, record: record)
    guard !fields.isEmpty else { return }
    clear(fields, in: &record.body, type: record.type)
  }

  /// The same for a conflict: both bodies, and the withheld fields leave its field list, so that
  /// "keep theirs" from a committee device can never write back an emptied value.
  public static func redact(_ conflict: inout Orgsync_V1_Conflict, for actor: Actor) {
    var probe = Orgsync_V1_Record()
    probe.type = conflict.type
    probe.unitID = conflict.unitID
    let fields = withheld(from: actor, record: probe)
    guard !fields.isEmpty else { return }
    clear(fields, in: &conflict.winner, type: conflict.type)
    clear(fields, in: &conflict.loser, type: conflict.type)
    conflict.fields.removeAll { fields.contains($0) }
  }

  /// Personal fields of a deleted member that are cleared once the retention period is over.
  public static let purgedWhenDeleted = [
    "name", "birth_date", "ethnicity", "occupation", "phone", "note", "dues_base_fen",
  ]

  /// Clears `purgedWhenDeleted` from a member body; false when there was nothing to clear.
  public static func purge(_ body: inout Orgsync_V1_RecordBody, type: Orgsync_V1_RecordType) -> Bool {
    guard type == .member else { return false }
    let m = body.member
    guard
      !m.name.isEmpty || m.hasBirthDate || !m.ethnicity.isEmpty || !m.occupation.isEmpty || !m.phone.isEmpty
        || !m.note.isEmpty || m.duesBaseFen != 0
    else { return false }
    body.member.name = ""
    body.member.clearBirthDate()
    body.member.ethnicity = ""
    body.member.occupation = ""
    body.member.phone = ""
    body.member.note = ""
    body.member.duesBaseFen = 0
    return true
  }

  /// Names of the personal fields set in `record` (what a log line may say was served).
  public static func served(_ record: Orgsync_V1_Record) -> [String] {
    guard let names = fields[record.type],
      let wire = try? WireFields(bytes: RecordKinds.bytes(of: record.body))
    else { return [] }
    let present = Set(wire.fields.keys.compactMap { RecordKinds.fieldName($0, of: record.type) })
    return names.filter(present.contains).map { "\(record.type).\($0)" }
  }

  static func clear(_ fields: [String], in body: inout Orgsync_V1_RecordBody, type: Orgsync_V1_RecordType) {
    switch type {
    case .member:
      for field in fields {
        switch field {
        case "birth_date": body.member.clearBirthDate()
        case "phone": body.member.phone = ""
        case "note": body.member.note = ""
        default: break
        }
      }
    case .opinion:
      if fields.contains("respondent") { body.opinion.respondent = "" }
    default:
      break
    }
  }
}

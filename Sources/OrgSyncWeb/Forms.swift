import Foundation
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto

/// A record type's form, made from its field table (Protos/ → ProtoFields, through the same
/// `FieldInput` the command line uses): a new field gets its input without new HTML.
struct RecordForm {
  let type: Orgsync_V1_RecordType
  let input: FieldInput
  /// Choices for fields that name another record (a member, an opinion, a unit), by name.
  let references: [Orgsync_V1_RecordType: [Choice]]

  struct Choice: Sendable {
    var id: String
    var label: String
  }

  static let longText: Set<String> = [
    "body", "content", "description", "decisions", "findings", "note", "resolution", "evidence", "reviewer_comment",
    "follow_up_note",
  ]

  /// The record type a field refers to (ids are chosen from a list, never typed).
  static func referencedType(_ field: String) -> Orgsync_V1_RecordType? {
    switch field {
    case "member_id", "speaker_id", "cadre_id", "attendee_ids", "sponsor_ids": .member
    case "opinion_ids": .opinion
    case "notice_id": .notice
    case "problem_id", "problem_ids": .problem
    case "parent_id", "issuer_unit_id", "reviewer_unit_id", "audience_root_id", "village_unit_id": .orgUnit
    default: nil
    }
  }

  /// The form of `type`, its pick lists read from `replica` (on the replica's own queue).
  ///
  /// Members, opinions and problems are picked from `unit`'s own records (a county PC holds
  /// 20,000 members: a list of them all would be megabytes); units from the whole tree.
  static func make(type: Orgsync_V1_RecordType, replica: Replica, unit: [UInt8]? = nil) async throws -> RecordForm {
    let input = try FieldInput(type: type)
    let wanted = Set(input.fields.compactMap { referencedType($0.name) })
    let references = try await replica.blocking { replica in
      var references: [Orgsync_V1_RecordType: [Choice]] = [:]
      for target in wanted {
        let records =
          if let unit, target != .orgUnit {
            try replica.recordsPage(type: target, units: [unit], limit: 5_000, offset: 0).records
          } else {
            try replica.records(type: target)
          }
        references[target] = records.map { Choice(id: RecordID.string($0.id), label: title(of: $0.body)) }
          .sorted { $0.label < $1.label }
      }
      return references
    }
    return RecordForm(type: type, input: input, references: references)
  }

  /// What names a record in a list or a pick list: a member's or unit's name, a title, the
  /// start of a text.
  static func title(of body: Orgsync_V1_RecordBody) -> String {
    switch body.kind {
    case .orgUnit(let u): u.name
    case .member(let m): m.name
    case .meeting(let m): m.topic
    case .report(let r): r.title
    case .notice(let n): n.title
    case .problem(let p): p.title
    case .opinion(let o): String(o.content.prefix(30))
    case .commitment(let c): String(c.content.prefix(30))
    case .lecture(let l): l.topic
    case .serviceCase(let s): s.what
    case .supportItem(let s): s.what
    case .liaisonPoint(let l): l.cadreName
    case .inspection(let i): String(i.findings.prefix(30))
    case .transfer(let t): t.memberName + " → " + t.toUnitName
    case .duesPayment(let d): "\(d.fromMonth)–\(d.toMonth)"
    case .assessment(let a): String(a.content.prefix(30))
    case .noticeReceipt(let r): CalendarDate.string(r.readOn)
    case nil: ""
    }
  }

  /// The template's view of the form: each field with its label, input kind, value and error.
  func fields(values: [String: String], errors: [String: String]) -> [[String: Any]] {
    input.fields.map { field in
      var item: [String: Any] = [
        "name": field.name, "label": Labels.field(field.name, of: type), "value": values[field.name] ?? "",
      ]
      if let error = errors[field.name] { item["error"] = error }
      let value = values[field.name] ?? ""
      switch field.type {
      case "string":
        item[Self.longText.contains(field.name) ? "isLong" : "isText"] = true
      case "int32", "int64", "uint32", "uint64", "double":
        item["isNumber"] = true
      case "Date":
        item["isDate"] = true
      case "bool":
        item["isChoice"] = true
        item["options"] = [("yes", "是"), ("no", "否")].map { ["value": $0.0, "label": $0.1, "selected": value == $0.0] }
      case "bytes", "repeated bytes":
        item["isChoice"] = true
        item["multiple"] = field.type.hasPrefix("repeated")
        let chosen = value.split(separator: ",").map(String.init)
        let choices = Self.referencedType(field.name).flatMap { references[$0] } ?? []
        // What is chosen now stays a choice even when not in the list (a member moved away, a
        // record deleted): saving the form must never drop it unasked.
        let listed = Set(choices.map(\.id))
        let kept = chosen.filter { !listed.contains($0) }.map { Choice(id: $0, label: "（" + $0.suffix(8) + "）") }
        item["options"] = (kept + choices).map {
          ["value": $0.id, "label": $0.label, "selected": chosen.contains($0.id)]
        }
      default:  // a closed set
        item["isChoice"] = true
        item["options"] = FieldInput.choices(ofEnum: field.type).map {
          ["value": $0, "label": Labels.choice($0, enum: field.type), "selected": value == $0]
        }
      }
      return item
    }
  }

  /// The posted values of this type's own fields (anything else in a post is ignored).
  func known(_ posted: [String: String]) -> [String: String] {
    let names = Set(input.fields.map(\.name))
    return posted.filter { names.contains($0.key) }
  }

  /// Checks each typed value on its own, so every wrong field is named at once, in Chinese.
  func fieldErrors(_ values: [String: String]) -> [String: String] {
    var errors: [String: String] = [:]
    let types = Dictionary(uniqueKeysWithValues: input.fields.map { ($0.name, $0.type) })
    for (name, value) in values where !value.isEmpty {
      do {
        _ = try input.body([name: value])
      } catch {
        errors[name] =
          switch types[name] ?? "string" {
          case "Date": "请填写真实的日期"
          case "int32", "int64", "uint32", "uint64": "请填写整数"
          case "double": "请填写数字"
          case "bytes", "repeated bytes": "请从列表中选择"
          case "string": "内容无法保存"
          default: "请从列表中选择"
          }
      }
    }
    return errors
  }

  /// The values of a stored record as the form shows them.
  static func values(of body: Orgsync_V1_RecordBody) -> [String: String] {
    Dictionary(
      RecordPresentation.fields(of: body).map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
  }

  /// The device's and the server's rule messages, in Chinese where the wording is known.
  static func chinese(_ reason: String, field: String, type: Orgsync_V1_RecordType) -> String {
    Reasons.chinese(reason, field: field, type: type)
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import SwiftProtobuf

/// How records read on a terminal: field values in the same words the flags take.
public enum RecordPresentation {
  /// Record types by the word the CLI uses (`member`, `liaison-point` …).
  public static let typeNames: [String: Orgsync_V1_RecordType] = [
    "unit": .orgUnit, "member": .member, "meeting": .meeting, "report": .report, "inspection": .inspection,
    "notice": .notice, "liaison-point": .liaisonPoint, "lecture": .lecture, "support-item": .supportItem,
    "opinion": .opinion, "problem": .problem, "commitment": .commitment, "service-case": .serviceCase,
  ]

  public static func word(for type: Orgsync_V1_RecordType) -> String {
    typeNames.first { $0.value == type }?.key ?? "record"
  }

  /// The fields a listing shows for each type, besides id and unit.
  static let summary: [Orgsync_V1_RecordType: [String]] = [
    .orgUnit: ["code", "name", "level"],
    .member: ["name", "status", "leading_cadre", "cadre_title"],
    .meeting: ["date", "kind", "topic", "attendee_count"],
    .report: ["year", "period", "kind", "status", "title"],
    .inspection: ["date", "findings", "follow_up_due", "follow_up_note"],
    .notice: ["issued_on", "title"],
    .liaisonPoint: ["cadre_name", "since", "until"],
    .lecture: ["date", "speaker_name", "topic", "audience_size"],
    .supportItem: ["date", "what", "amount_fen", "quantity"],
    .opinion: ["date", "source", "category", "content"],
    .problem: ["identified_on", "category", "status", "title"],
    .commitment: ["promised_on", "due", "status", "content"],
    .serviceCase: ["date", "what", "beneficiaries"],
  ]

  public static func summaryFields(_ type: Orgsync_V1_RecordType) -> [String] { summary[type] ?? [] }

  /// Every set field of a body as display text, in field-number order.
  public static func fields(of body: Orgsync_V1_RecordBody, unitName: ([UInt8]) -> String? = { _ in nil })
    -> [(name: String, value: String)]
  {
    let type = RecordKinds.type(of: body)
    guard let message = RecordKinds.message(of: body), let messageType = RecordKinds.messageType(of: type) else {
      return []
    }
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    guard let text = try? message.jsonString(options: options),
      let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    else { return [] }
    let types = ProtoFields.types[messageType.protoMessageName] ?? [:]
    let order = ProtoFields.numbers[messageType.protoMessageName] ?? [:]
    return object.keys.sorted { (order[$0] ?? 0) < (order[$1] ?? 0) }.map { name in
      (name, display(object[name]!, type: types[name] ?? "string", unitName: unitName))
    }
  }

  /// One field's display text ("" when unset).
  public static func value(
    _ field: String, of body: Orgsync_V1_RecordBody, unitName: ([UInt8]) -> String? = { _ in nil }
  )
    -> String
  {
    fields(of: body, unitName: unitName).first { $0.name == field }?.value ?? ""
  }

  static func display(_ value: Any, type: String, unitName: ([UInt8]) -> String?) -> String {
    if type.hasPrefix("repeated "), let list = value as? [Any] {
      let element = String(type.dropFirst("repeated ".count))
      return list.map { display($0, type: element, unitName: unitName) }.joined(separator: ",")
    }
    switch type {
    case "Date":
      guard let d = value as? [String: Any] else { return "\(value)" }
      return String(format: "%04d-%02d-%02d", d["year"] as? Int ?? 0, d["month"] as? Int ?? 0, d["day"] as? Int ?? 0)
    case "bytes":
      guard let text = value as? String, let data = Data(base64Encoded: text) else { return "\(value)" }
      return unitName(Array(data)) ?? RecordID.string(Array(data))
    case "bool":
      return (value as? Bool) == true ? "yes" : "no"
    case "string", "int32", "int64", "uint32", "uint64", "double":
      return "\(value)"
    default:
      guard let text = value as? String, let values = ProtoFields.enums[type], let first = values.first else {
        return "\(value)"
      }
      let prefix = String(first.dropLast("UNSPECIFIED".count))
      return text.hasPrefix(prefix)
        ? text.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-") : text
    }
  }

  /// JSON kinds of a record type's fields (numbers and yes/no fields), for `Table.kinds`.
  public static func kinds(of type: Orgsync_V1_RecordType) -> [String: ColumnKind] {
    guard let messageType = RecordKinds.messageType(of: type) else { return [:] }
    var kinds: [String: ColumnKind] = [:]
    for (name, fieldType) in ProtoFields.types[messageType.protoMessageName] ?? [:] {
      switch fieldType {
      case "int32", "int64", "uint32", "uint64": kinds[name] = .integer
      case "double", "float": kinds[name] = .number
      case "bool": kinds[name] = .boolean
      default: break
      }
    }
    return kinds
  }

  /// Short form of an id for tables: its last 8 hex digits (accepted back by the CLI).
  public static func shortID(_ id: [UInt8]) -> String {
    String(RecordID.string(id).suffix(8))
  }
}

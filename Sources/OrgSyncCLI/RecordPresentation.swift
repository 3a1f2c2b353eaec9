import Foundation
import OrgSyncCore
import OrgSyncProto
import SwiftProtobuf
import Synchronization

/// How records read on a terminal: field values in the same words the flags take.
public enum RecordPresentation {
  /// Record types by the word the CLI uses (`member`, `liaison-point` …).
  public static let typeNames: [String: Orgsync_V1_RecordType] = [
    "unit": .orgUnit, "member": .member, "meeting": .meeting, "report": .report, "inspection": .inspection,
    "notice": .notice, "liaison-point": .liaisonPoint, "lecture": .lecture, "support-item": .supportItem,
    "opinion": .opinion, "problem": .problem, "commitment": .commitment, "service-case": .serviceCase,
    "transfer": .transfer, "dues-payment": .duesPayment, "assessment": .assessment, "notice-receipt": .noticeReceipt,
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
    .transfer: ["issued_on", "member_name", "to_unit_name", "status"],
    .duesPayment: ["paid_on", "from_month", "to_month", "amount_fen"],
    .assessment: ["year", "kind", "date", "content"],
    .noticeReceipt: ["read_on", "notice_id"],
  ]

  public static func summaryFields(_ type: Orgsync_V1_RecordType) -> [String] { summary[type] ?? [] }

  /// Every set field of a body as display text, in field-number order.
  ///
  /// Read with a protobuf `Visitor` straight off the message (no JSON round trip: a county's
  /// 20,000-member list is read in one go, and JSON text cost ~50 µs a record).
  public static func fields(
    of body: Orgsync_V1_RecordBody, unitName: ([UInt8]) -> String? = { _ in nil }, only: Set<String>? = nil
  ) -> [(name: String, value: String)] {
    let type = RecordKinds.type(of: body)
    guard let message = RecordKinds.message(of: body), let messageType = RecordKinds.messageType(of: type) else {
      return []
    }
    let names = fieldNames[messageType.protoMessageName] ?? [:]
    return withoutActuallyEscaping(unitName) { unitName in
      var reader = FieldReader(unitName: unitName)
      if let only {
        reader.wanted = Set(names.filter { only.contains($0.value) }.keys)
      }
      try? message.traverse(visitor: &reader)
      return reader.values.compactMap { number, value in names[number].map { ($0, value) } }
    }
  }

  /// Field names by number, per message.
  static let fieldNames: [String: [Int: String]] = ProtoFields.numbers.mapValues { numbers in
    Dictionary(numbers.map { ($0.value, $0.key) }, uniquingKeysWith: { first, _ in first })
  }

  /// One field's display text ("" when unset).
  public static func value(
    _ field: String, of body: Orgsync_V1_RecordBody, unitName: ([UInt8]) -> String? = { _ in nil }
  )
    -> String
  {
    fields(of: body, unitName: unitName).first { $0.name == field }?.value ?? ""
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

/// Collects a record body's set fields as display text, in the words the flags take: dates as
/// YYYY-MM-DD, yes/no, closed sets by their short name (`full`, `branch-general`), ids by unit
/// name where known. Proto3 visits only fields that are set, in field-number order.
struct FieldReader: Visitor {
  let unitName: ([UInt8]) -> String?
  var values: [(Int, String)] = []
  /// Field numbers to read (nil: all); the rest are skipped without formatting.
  var wanted: Set<Int>?

  init(unitName: @escaping ([UInt8]) -> String?) { self.unitName = unitName }

  /// A repeated field arrives one element at a time: its elements join with commas.
  func skips(_ number: Int) -> Bool { wanted.map { !$0.contains(number) } ?? false }

  mutating func add(_ text: String, _ number: Int) {
    if let last = values.last, last.0 == number {
      values[values.count - 1].1 += "," + text
    } else {
      values.append((number, text))
    }
  }

  mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add("\(value)", fieldNumber)
  }
  mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add("\(value)", fieldNumber)
  }
  mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add("\(value)", fieldNumber)
  }
  mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add(value ? "yes" : "no", fieldNumber)
  }
  mutating func visitSingularStringField(value: String, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add(value, fieldNumber)
  }
  mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    let id = [UInt8](value)
    add(unitName(id) ?? RecordID.string(id), fieldNumber)
  }
  mutating func visitSingularEnumField<E: Enum>(value: E, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    add(RecordPresentation.choiceName(value), fieldNumber)
  }
  mutating func visitSingularMessageField<M: Message>(value: M, fieldNumber: Int) throws {
    if skips(fieldNumber) { return }
    if let d = value as? Orgsync_V1_Date {
      add(Self.date(d), fieldNumber)
    } else {
      add((try? value.jsonString()) ?? "", fieldNumber)
    }
  }
  /// YYYY-MM-DD, zero-padded (String(format:) is slow for thousands of rows).
  static func date(_ d: Orgsync_V1_Date) -> String {
    func padded(_ n: Int32, _ width: Int) -> String {
      let digits = String(n)
      return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
    return padded(d.year, 4) + "-" + padded(d.month, 2) + "-" + padded(d.day, 2)
  }

  mutating func visitSingularGroupField<G: Message>(value: G, fieldNumber: Int) throws {}
  mutating func visitMapField<K, V: MapValueType>(
    fieldType: _ProtobufMap<K, V>.Type, value: _ProtobufMap<K, V>.BaseType, fieldNumber: Int
  ) throws {}
  mutating func visitMapField<K, V>(
    fieldType: _ProtobufEnumMap<K, V>.Type, value: _ProtobufEnumMap<K, V>.BaseType, fieldNumber: Int
  ) throws where V.RawValue == Int {}
  mutating func visitMapField<K, V>(
    fieldType: _ProtobufMessageMap<K, V>.Type, value: _ProtobufMessageMap<K, V>.BaseType, fieldNumber: Int
  ) throws {}
  mutating func visitUnknown(bytes: Data) throws {}
}

extension RecordPresentation {
  /// A closed-set value by the short name the flags take: MEMBER_STATUS_FULL → full.
  public static func choiceName<E: Enum>(_ value: E) -> String {
    let names = shortNames(of: E.self)
    return value.rawValue >= 0 && value.rawValue < names.count ? names[value.rawValue] : "\(value.rawValue)"
  }

  /// An enum's values by their short names, in number order (worked out once per enum: a list
  /// page names thousands of values).
  static func shortNames<E: Enum>(of type: E.Type) -> [String] {
    let key = ObjectIdentifier(type)
    if let known = shortNameCache.withLock({ $0[key] }) { return known }
    let name = String(describing: type)
    let enumName = name.hasPrefix("Orgsync_V1_") ? String(name.dropFirst("Orgsync_V1_".count)) : name
    let values = ProtoFields.enums[enumName] ?? []
    let prefix = values.first.map { String($0.dropLast("UNSPECIFIED".count)) } ?? ""
    let names = values.map { text in
      text.hasPrefix(prefix) && !prefix.isEmpty
        ? text.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-") : text
    }
    shortNameCache.withLock { $0[key] = names }
    return names
  }

  static let shortNameCache = Mutex<[ObjectIdentifier: [String]]>([:])
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import SwiftProtobuf

/// A value on the command line that cannot become a field: says which and how to write it.
public struct InputError: Error, Hashable, Sendable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Turns `--field value` flags into a record body, for every record type: the flags are the
/// body's fields (`birth_date` → `--birth-date`), typed from Protos/ (ProtoFields).
///
/// - text: as given; numbers: decimal; yes/no for flags;
/// - dates: YYYY-MM-DD, checked to be real dates;
/// - closed sets: the value's short name, e.g. `--status full`, `--period q3`;
/// - ids: a record id (UUID) or its last digits as tables show them (`lookupRecord`), or a
///   unit's code (`lookupUnit`);
/// - lists: comma-separated.
public struct FieldInput {
  public let type: Orgsync_V1_RecordType
  let messageName: String
  /// Resolves a unit code (e.g. 430521-103-007) to a unit id.
  public var lookupUnit: (String) -> [UInt8]? = { _ in nil }
  /// Resolves the last digits of a record id, as tables show them, to the id (throws when they
  /// fit several records or none).
  public var lookupRecord: (String) throws -> [UInt8]? = { _ in nil }

  public init(type: Orgsync_V1_RecordType) throws {
    guard let messageType = RecordKinds.messageType(of: type) else {
      throw InputError("unknown record type")
    }
    self.type = type
    self.messageName = messageType.protoMessageName
  }

  /// The body's fields and their .proto types.
  public var fields: [(name: String, type: String)] {
    let numbers = ProtoFields.numbers[messageName] ?? [:]
    let types = ProtoFields.types[messageName] ?? [:]
    return numbers.sorted { $0.value < $1.value }.map { ($0.key, types[$0.key] ?? "string") }
  }

  public static func flag(_ field: String) -> String { "--" + field.replacingOccurrences(of: "_", with: "-") }

  public static func field(fromFlag flag: String) -> String {
    String(flag.drop { $0 == "-" }).replacingOccurrences(of: "-", with: "_")
  }

  /// Short names of an enum's values (`GENDER_FEMALE` → `female`), without the unspecified one.
  public static func choices(ofEnum name: String) -> [String] {
    guard let values = ProtoFields.enums[name], let first = values.first else { return [] }
    let prefix = String(first.dropLast("UNSPECIFIED".count))
    return values.dropFirst().map { $0.dropFirst(prefix.count).lowercased().replacingOccurrences(of: "_", with: "-") }
  }

  static func enumValue(_ name: String, _ typed: String) -> String? {
    guard let values = ProtoFields.enums[name], let first = values.first else { return nil }
    let prefix = String(first.dropLast("UNSPECIFIED".count))
    let short = ChineseNames.shortName(typed, enum: name) ?? typed  // `--status 正式党员` too
    let full = prefix + short.uppercased().replacingOccurrences(of: "-", with: "_")
    return values.dropFirst().contains(full) ? full : nil
  }

  /// Parses `--name value` pairs into a body. Returns it with the field names given.
  public func parse(_ arguments: [String], onto base: Orgsync_V1_RecordBody? = nil) throws -> (
    body: Orgsync_V1_RecordBody, fields: [String]
  ) {
    var values: [String: String] = [:]
    var index = 0
    while index < arguments.count {
      let flag = arguments[index]
      guard flag.hasPrefix("--") else { throw InputError("expected a --field flag, got '\(flag)'") }
      var name = Self.field(fromFlag: flag)
      var value: String
      if let equals = name.firstIndex(of: "=") {
        value = String(name[name.index(after: equals)...])
        name = String(name[..<equals])
      } else {
        guard index + 1 < arguments.count else { throw InputError("\(flag) needs a value") }
        value = arguments[index + 1]
        index += 1
      }
      // Long text from a file (--body-file PATH) or standard input (--body -): a report of
      // 50,000 characters does not fit on a command line.
      var fromFile = false
      if name.hasSuffix("_file"), !fields.contains(where: { $0.name == name }) {
        name = String(name.dropLast(5))
        fromFile = true
      }
      if fromFile || value == "-" {
        value = try Self.readText(fromFile ? value : "-", for: Self.flag(name))
      } else {
        value = value.trimmingCharacters(in: .whitespaces)
      }
      guard fields.contains(where: { $0.name == name }) else {
        let known = fields.map { Self.flag($0.name) }.joined(separator: ", ")
        throw InputError("a \(RecordNames.name(of: type)) has no field \(Self.flag(name)); its fields are: \(known)")
      }
      values[name] = value
      index += 1
    }
    return (try body(values, onto: base), values.keys.sorted())
  }

  /// The text of a file, or of standard input for "-", as UTF-8 (a BOM is dropped).
  static func readText(_ path: String, for flag: String) throws -> String {
    let data: Data
    if path == "-" {
      data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
      guard let contents = FileManager.default.contents(atPath: path) else {
        throw InputError("\(flag): cannot read the file \(path)")
      }
      data = contents
    }
    guard var text = String(data: data, encoding: .utf8) else {
      throw InputError("\(flag): \(path == "-" ? "the input" : path) is not UTF-8 text")
    }
    if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// A body with `values` (field → text) set, starting from `base`.
  public func body(_ values: [String: String], onto base: Orgsync_V1_RecordBody? = nil) throws
    -> Orgsync_V1_RecordBody
  {
    var json: [String: Any] = [:]
    if let base, let message = RecordKinds.message(of: base) {
      var options = JSONEncodingOptions()
      options.preserveProtoFieldNames = true
      let text = try message.jsonString(options: options)
      json = (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }
    let types = Dictionary(uniqueKeysWithValues: fields.map { ($0.name, $0.type) })
    for (name, text) in values {
      let fieldType = types[name] ?? "string"
      json[name] = text.isEmpty ? nil : try jsonValue(text, type: fieldType, field: name)
    }
    let data = try JSONSerialization.data(withJSONObject: json)
    guard let messageType = RecordKinds.messageType(of: type) else { throw InputError("unknown record type") }
    do {
      var options = JSONDecodingOptions()
      options.ignoreUnknownFields = false
      let message = try messageType.init(jsonUTF8Bytes: Array(data), options: options)
      return try RecordKinds.body(type: type, bytes: try message.serializedBytes())
    } catch {
      throw InputError("the values do not make a \(RecordNames.name(of: type)): \(error)")
    }
  }

  func jsonValue(_ text: String, type fieldType: String, field: String) throws -> Any {
    let flag = Self.flag(field)
    if fieldType.hasPrefix("repeated ") {
      let element = String(fieldType.dropFirst("repeated ".count))
      return try text.split(separator: ",").map {
        try jsonValue($0.trimmingCharacters(in: .whitespaces), type: element, field: field)
      }
    }
    switch fieldType {
    case "string":
      return text
    case "int32", "int64", "uint32", "uint64":
      guard let number = Int64(text) else { throw InputError("\(flag) takes a whole number, not '\(text)'") }
      return fieldType.hasSuffix("64") ? String(number) : NSNumber(value: number)
    case "double":
      guard let number = Double(text) else { throw InputError("\(flag) takes a number, not '\(text)'") }
      return number
    case "bool":
      switch text.lowercased() {
      case "yes", "true", "1", "y": return true
      case "no", "false", "0", "n": return false
      default: throw InputError("\(flag) takes yes or no, not '\(text)'")
      }
    case "Date":
      let parts = text.split(separator: "-").compactMap { Int($0) }
      guard parts.count == 3, CalendarDate.isValid(CalendarDate.make(parts[0], parts[1], parts[2])) else {
        throw InputError("\(flag) takes a real date as YYYY-MM-DD, not '\(text)'")
      }
      return ["year": parts[0], "month": parts[1], "day": parts[2]]
    case "bytes":
      if let id = RecordID.parse(text) { return Data(id).base64EncodedString() }
      if let unit = lookupUnit(text) { return Data(unit).base64EncodedString() }
      do {
        if let id = try lookupRecord(text) { return Data(id).base64EncodedString() }
      } catch {
        throw InputError("\(flag): \(error)")
      }
      throw InputError("\(flag) takes a record id (or its last 6–8 digits as listed) or a unit code, not '\(text)'")
    default:
      guard let value = Self.enumValue(fieldType, text) else {
        let choices = Self.choices(ofEnum: fieldType).map { short in
          let chinese = ChineseNames.names(of: short, enum: fieldType)
          return chinese.isEmpty ? short : "\(short) (\(chinese.joined(separator: "/")))"
        }.joined(separator: ", ")
        throw InputError("\(flag) must be one of: \(choices) (got '\(text)')")
      }
      return value
    }
  }
}

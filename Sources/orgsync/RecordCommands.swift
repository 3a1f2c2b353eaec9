import ArgumentParser
import Foundation
import OrgSyncAPI
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC

struct Enroll: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Enrol this computer with a one-time code.")
  @OptionGroup var common: Common
  @Option(help: "The server, HOST:PORT.") var server: String
  @Option(help: "The one-time code from the county office (it also names the county's certificate authority).")
  var code: String
  @Option(help: "A name for this computer, e.g. the office it is in.") var name = "orgsync"
  @Option(help: "PEM file of the certificate authority to trust: connect over TLS (the server's --tls-certificate).")
  var caFile: String?
  @Flag(
    help:
      "Enrol again in place, keeping every queued edit: after this device was revoked, or the server moved to a new address or CA."
  )
  var replace = false

  func run() async throws {
    let replica: Replica
    if replace {
      // A damaged file is rebuilt first, so that its queued edits are kept.
      do {
        replica = try common.replica()
      } catch is ReplicaDamaged {
        let (salvage, aside) = try Replica.recover(path: common.replicaPath, key: try common.replicaKey())
        print("set the damaged data file aside as \(aside); kept \(salvage.queued.count) queued edits")
        replica = try common.replica()
      }
    } else {
      replica = try common.replica()
    }
    let previous = try replica.identity()
    if previous != nil, !replace {
      throw Failure(
        message:
          "this computer is enrolled already (\(common.folder.path)); to enrol it again and keep its queued edits, add --replace",
        code: Exit.usage)
    }
    let (host, port) = try Endpoint.parse(server)
    guard let typed = EnrollmentPin.split(code) else {
      throw Failure(
        message: "the code is 12 or 28 letters and digits (dashes do not matter); check it against the slip",
        code: Exit.usage)
    }
    var pem: String?
    if caFile == nil, let pin = typed.pin {
      do {
        pem = try await PinnedAuthority.fetch(host: host, port: port, pin: pin)
      } catch is PinnedAuthority.Mismatch {
        throw Failure(
          message:
            "the server at \(server) is not the county's (its certificate does not match the code); nothing was saved — check the address",
          code: Exit.notEnrolled)
      } catch {
        throw Failure(
          message: "cannot reach a TLS server at \(server): \(error)", code: Exit.unavailable)
      }
    }
    if let caFile {
      do {
        pem = try String(contentsOfFile: caFile, encoding: .utf8)
      } catch {
        throw Failure(message: "cannot read \(caFile)", code: Exit.usage)
      }
    }
    let client = try RPCClient(
      configuration: .init(host: host, port: port, tls: try Common.tls(pem: pem), connectTimeout: .seconds(15)))
    defer { Task { await client.close() } }
    var request = Orgsync_V1_EnrollRequest()
    request.code = typed.code
    request.deviceName = name
    let response: Orgsync_V1_EnrollResponse
    do {
      response = try await client.unary(EnrollmentAPI.enroll, request, options: CallOptions(timeout: .seconds(30)))
    } catch let error as RPCError where error.code == .unauthenticated {
      throw Failure(
        message: "the server does not accept this code (unknown, used or expired); ask for a new one",
        code: Exit.notEnrolled)
    }
    let identity = Replica.Identity(
      server: server, deviceID: Array(response.deviceID), secret: Array(response.secret),
      unitID: Array(response.unitID), role: response.role, unitName: response.unitName)
    if previous != nil {
      try replica.replaceIdentity(identity, trustedAuthority: pem)
    } else {
      try replica.setIdentity(identity)
      try replica.setTrustedAuthority(pem)
    }
    print("enrolled as \(response.unitName) (\(response.unitCode)), role \(roleName(response.role))")
    if previous != nil {
      print("kept \(try replica.status().outbox) queued edits; they are sent with the next sync")
    }
    print("next: orgsync sync")
  }
}

func roleName(_ role: Orgsync_V1_DeviceRole) -> String {
  switch role {
  case .branch: "branch"
  case .committee: "committee"
  case .admin: "admin"
  default: "none"
  }
}

/// The last digits of a record id (as tables show them) → the id, from the replica.
func recordLookup(_ replica: Replica) -> (String) throws -> [UInt8]? {
  { text in
    let digits = text.lowercased().filter { $0 != "-" }
    guard digits.count >= 6, digits.allSatisfy(\.isHexDigit) else { return nil }
    return try replica.resolveID(text)
  }
}

/// Unit codes → ids, from the replica.
func unitLookup(_ replica: Replica) throws -> (String) -> [UInt8]? {
  let units = try replica.units()
  return { code in units.first { $0.value.code == code }?.key }
}

func unitNamer(_ replica: Replica) throws -> ([UInt8]) -> String? {
  let units = try replica.units()
  return { id in units[id]?.name }
}

struct Add: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Add a record, offline. Fields are flags: orgsync add member --name 张三 --status full …",
    discussion: "Run `orgsync add TYPE --help-fields` for a type's fields and their values.")
  @OptionGroup var common: Common
  @Argument(help: "The record type.") var type: String
  @Option(help: "The unit it belongs to, by code (default: this device's unit).") var unit: String?
  @Flag(help: "List the fields of the type.") var helpFields = false
  @Argument(parsing: .allUnrecognized, help: "--field value pairs.") var values: [String] = []

  func run() async throws {
    let type = try recordType(self.type)
    var input = try FieldInput(type: type)
    if helpFields { return print(fieldHelp(input)) }
    let (replica, identity) = try common.enrolled()
    input.lookupUnit = try unitLookup(replica)
    input.lookupRecord = recordLookup(replica)
    var unitID = identity.unitID
    if let unit {
      guard let id = input.lookupUnit(unit) else {
        throw Failure(
          message: "no unit with code \(unit) in this device's data; run `orgsync list unit`", code: Exit.badValue)
      }
      unitID = id
    }
    var (body, _) = try input.parse(values)
    let id = RecordID.make()
    body = try promptUntilValid(body, input: input, replica: replica, unitID: type == .orgUnit ? id : unitID)
    let mutation = try replica.create(body, unitID: unitID, id: id)
    let added = RecordID.string(Array(mutation.recordID))
    print(
      Words.pick(
        en: "added \(self.type) \(added) (queued for the next sync)",
        zh: "added \(self.type) \(added)（已保存在本机，下次同步时上传）"))
  }
}

/// Validates locally; on a missing required field asks for it when a person is at the keyboard.
func promptUntilValid(
  _ body: Orgsync_V1_RecordBody, input: FieldInput, replica: Replica, unitID: [UInt8]
) throws -> Orgsync_V1_RecordBody {
  var body = body
  for _ in 0..<50 {
    do {
      try replica.validate(body, unitID: unitID, today: CalendarDate.today())
      return body
    } catch let rejection as Rejection {
      let flag = FieldInput.flag(rejection.field)
      guard rejection.reason.hasSuffix("is required"), isTerminal(STDIN_FILENO), isTerminal(STDOUT_FILENO) else {
        let type = RecordKinds.type(of: body)
        throw Failure(
          message: Words.pick(
            en: "\(flag): \(rejection.reason); nothing was saved",
            zh: "\(flag)：\(Reasons.chinese(rejection.reason, field: rejection.field, type: type))；没有保存"),
          code: Exit.badValue)
      }
      print("\(flag) (\(input.fields.first { $0.name == rejection.field }?.type ?? "text")): ", terminator: "")
      guard let line = readLine(), !line.isEmpty else {
        throw Failure(message: "\(flag) is required; nothing was saved", code: Exit.badValue)
      }
      do {
        body = try input.body([rejection.field: line], onto: body)
      } catch let error as InputError {
        print(error.message)
      }
    }
  }
  throw Failure(message: "giving up after too many attempts; nothing was saved", code: Exit.badValue)
}

func fieldHelp(_ input: FieldInput) -> String {
  var table = Table(columns: ["flag", "value"])
  for field in input.fields {
    let kind: String
    switch field.type {
    case "string": kind = "text"
    case "Date": kind = "YYYY-MM-DD"
    case "bool": kind = "yes | no"
    case "bytes": kind = "record id, or unit code"
    case "repeated bytes": kind = "record ids, comma-separated"
    case "int32", "int64": kind = "whole number"
    default: kind = FieldInput.choices(ofEnum: field.type).joined(separator: " | ")
    }
    table.rows.append([FieldInput.flag(field.name), kind])
  }
  return table.aligned()
}

struct Edit: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Change fields of a record, offline: orgsync edit ID --phone 13800000000")
  @OptionGroup var common: Common
  @Argument(help: "The record's id (or its last 6–8 digits).") var id: String
  @Argument(parsing: .allUnrecognized, help: "--field value pairs.") var values: [String] = []

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let recordID = try replica.resolveID(id)
    guard let current = try replica.record(id: recordID) else {
      throw Failure(message: "no record \(id) here", code: Exit.badValue)
    }
    guard !values.isEmpty else { throw Failure(message: "say what to change, e.g. --note 新备注", code: Exit.usage) }
    var input = try FieldInput(type: current.type)
    input.lookupUnit = try unitLookup(replica)
    input.lookupRecord = recordLookup(replica)
    let (body, fields) = try input.parse(values, onto: current.body)
    _ = try promptUntilValid(
      body, input: input, replica: replica, unitID: current.type == .orgUnit ? recordID : current.unitID)
    try replica.update(recordID, fields: fields, from: body)
    print(
      Words.pick(
        en: "changed \(fields.joined(separator: ", ")) of \(RecordID.string(recordID)) (queued for the next sync)",
        zh:
          "已修改 \(RecordID.string(recordID)) 的 \(fields.map { Labels.field($0, of: current.type) }.joined(separator: "、"))"
          + "（下次同步时上传）"))
  }
}

struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Delete a record, offline.")
  @OptionGroup var common: Common
  @Argument(help: "The record's id (or its last 6–8 digits).") var id: String

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let recordID = try replica.resolveID(id)
    try replica.delete(recordID)
    print(
      Words.pick(
        en: "deleted \(RecordID.string(recordID)) (queued for the next sync)",
        zh: "已删除 \(RecordID.string(recordID))（下次同步时上传）"))
  }
}

struct Move: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Move a record (a member's transfer) to another unit.")
  @OptionGroup var common: Common
  @Argument(help: "The record's id (or its last 6–8 digits).") var id: String
  @Option(help: "The unit's code.") var to: String

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let recordID = try replica.resolveID(id)
    guard let unit = try unitLookup(replica)(to) else {
      throw Failure(message: "no unit with code \(to) in this device's data", code: Exit.badValue)
    }
    try replica.move(recordID, to: unit)
    print(
      Words.pick(
        en: "moved \(RecordID.string(recordID)) to \(to) (queued for the next sync)",
        zh: "已把 \(RecordID.string(recordID)) 转到 \(to)（下次同步时上传）"))
  }
}

struct List: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List records of a type.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions
  @Argument(help: "The record type.") var type: String
  @Option(help: "Only this unit (by code) and the units below it.") var unit: String?

  func run() async throws {
    let type = try recordType(self.type)
    let (replica, _) = try common.enrolled()
    let units = try replica.units()
    let namer = try unitNamer(replica)
    var records = try replica.records(type: type)
    if let unit {
      guard let root = units.first(where: { $0.value.code == unit })?.key else {
        throw Failure(message: "no unit with code \(unit) in this device's data", code: Exit.badValue)
      }
      records = records.filter { record in
        var current = record.unitID
        for _ in 0..<64 {
          if current == root { return true }
          guard let parent = units[current]?.parentID, !parent.isEmpty else { return false }
          current = Array(parent)
        }
        return false
      }
    }
    let fields = RecordPresentation.summaryFields(type)
    var table = Table(columns: ["id"] + fields + ["unit", "sync"])
    table.kinds = RecordPresentation.kinds(of: type)
    for record in records {
      let id = output.format == .table ? RecordPresentation.shortID(record.id) : RecordID.string(record.id)
      let values = fields.map { RecordPresentation.value($0, of: record.body, unitName: namer) }
      table.rows.append([id] + values + [namer(record.unitID) ?? "", record.pending ? "pending" : "synced"])
    }
    print(table.render(output.format))
  }
}

struct Show: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show every field of a record.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions
  @Argument(help: "The record's id (or its last 6–8 digits).") var id: String

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let recordID = try replica.resolveID(id)
    guard let record = try replica.record(id: recordID) else {
      throw Failure(message: "no record \(id) here", code: Exit.badValue)
    }
    let namer = try unitNamer(replica)
    var table = Table(columns: ["field", "value"])
    table.rows = [
      ["id", RecordID.string(record.id)], ["type", RecordPresentation.word(for: record.type)],
      ["unit", namer(record.unitID) ?? RecordID.string(record.unitID)], ["version", String(record.version)],
      ["sync", record.pending ? "pending" : "synced"],
    ]
    table.rows += RecordPresentation.fields(of: record.body, unitName: namer).map { [$0.name, $0.value] }
    print(table.render(output.format))
  }
}

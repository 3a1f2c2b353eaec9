import ArgumentParser
import Foundation
import OrgSyncAPI
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import Synchronization

struct Aggregate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The roll-up of a subtree for a period: reports, cadres, opinions, problems, promises.",
    discussion: "Online it asks the server (live data); with --offline it computes from this computer's data.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions
  @Option(help: "The period: 2026-Q3, 2026-H1 or 2026.") var period: String = ""
  @Option(help: "The subtree's root, by unit code (default: this device's unit).") var unit: String?
  @Flag(help: "Compute from this computer's data, without the server.") var offline = false
  @Flag(help: "Print what each column counts, one line each, instead of the roll-up.") var definitions = false

  func run() async throws {
    if definitions {
      var table = Table(columns: ["column", "definition"])
      table.rows = RollUpTable.allColumns.map { [$0, RollUpTable.definitions[$0] ?? ""] }
      return print(table.render(output.format))
    }
    let (replica, identity) = try common.enrolled()
    let (year, reportPeriod) = try parsePeriod(period)
    let root = try subtreeRoot(unit, replica: replica, identity: identity)
    let rollUp: Orgsync_V1_RollUp
    if offline {
      rollUp = try replica.rollUp(root: root, year: year, period: reportPeriod, today: CalendarDate.today())
    } else {
      let client = try common.client(identity, replica: replica)
      defer { Task { await client.close() } }
      var request = Orgsync_V1_RollUpRequest()
      request.unitID = Data(root)
      request.year = year
      request.period = reportPeriod
      rollUp = try await client.unary(SyncAPI.rollUp, request, options: CallOptions(timeout: .seconds(60)))
    }
    print(RollUpTable.render(rollUp, format: output.format, unitName: try unitNamer(replica)))
  }

  func parsePeriod(_ text: String) throws -> (Int32, Orgsync_V1_ReportPeriod) { try Self.parse(text) }

  static func parse(_ text: String) throws -> (Int32, Orgsync_V1_ReportPeriod) {
    let parts = text.uppercased().split(separator: "-")
    guard let year = parts.first.flatMap({ Int32($0) }), (2000...2100).contains(year) else {
      throw Failure(
        message: "the period is YEAR, YEAR-Q1…Q4 or YEAR-H1/H2, e.g. 2026-Q3 (got '\(text)')", code: Exit.usage)
    }
    guard parts.count == 2 else { return (year, .year) }
    let periods: [String: Orgsync_V1_ReportPeriod] = ["Q1": .q1, "Q2": .q2, "Q3": .q3, "Q4": .q4, "H1": .h1, "H2": .h2]
    guard let period = periods[String(parts[1])] else {
      throw Failure(
        message: "the period is YEAR, YEAR-Q1…Q4 or YEAR-H1/H2, e.g. 2026-Q3 (got '\(text)')", code: Exit.usage)
    }
    return (year, period)
  }
}

struct Export: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write every record (or one type) as JSON lines, for backups and other tools.")
  @OptionGroup var common: Common
  @Option(help: "Only this record type.") var type: String?

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let records = try replica.records(type: try type.map(recordType))
    for record in records {
      var object: [String: Any] = [
        "id": RecordID.string(record.id), "type": RecordPresentation.word(for: record.type),
        "unit_id": RecordID.string(record.unitID), "version": record.version, "pending": record.pending,
      ]
      let kinds = RecordPresentation.kinds(of: record.type)
      for field in RecordPresentation.fields(of: record.body) {
        switch kinds[field.name] {
        case .integer?: object[field.name] = Int64(field.value).map { NSNumber(value: $0) } ?? field.value
        case .number?: object[field.name] = Double(field.value).map { NSNumber(value: $0) } ?? field.value
        case .boolean?: object[field.name] = field.value == "yes"
        default: object[field.name] = field.value
        }
      }
      let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
      print(String(decoding: data, as: UTF8.self))
    }
  }
}

struct Stats: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "The year-end tallies of party members (党内统计年报) as of 31 December, from this computer's data.",
    discussion: "Counted: full and probationary members whose stage date is on or before 31 December.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions
  @Option(help: "The year, e.g. 2026.") var year: Int32
  @Option(help: "The subtree's root, by unit code (default: this device's unit).") var unit: String?

  func run() async throws {
    let (replica, identity) = try common.enrolled()
    guard (2000...2100).contains(year) else {
      throw Failure(message: "the year must be between 2000 and 2100", code: Exit.usage)
    }
    let root = try subtreeRoot(unit, replica: replica, identity: identity)
    let stats = YearEndStatistics(
      members: try replica.members(under: root), year: year, transfers: try replica.transfers(under: root))
    var table = Table(columns: ["table", "row", "count"])
    table.kinds["count"] = .integer
    table.rows = stats.lines.map { [$0.table, $0.row, String($0.count)] }
    print(table.render(output.format))
  }
}

struct Lists: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Whom the roll-up's counts stand for, by name: late units, cadres without a lecture or with "
      + "liaison points off, branches behind on 三会一课, members due for conversion, activists ready, open "
      + "problems, overdue promises.",
    discussion: "From this computer's data. --json prints one object per list: {id, heading, columns, rows}.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions
  @Option(help: "The period: 2026-Q3, 2026-H1 or 2026.") var period: String
  @Option(help: "The subtree's root, by unit code (default: this device's unit).") var unit: String?

  func run() async throws {
    let (replica, identity) = try common.enrolled()
    let (year, reportPeriod) = try Aggregate.parse(period)
    let root = try subtreeRoot(unit, replica: replica, identity: identity)
    let today = CalendarDate.today()
    let (rollUp, named) = try replica.namedRollUp(
      root: root, year: year, period: reportPeriod, today: today, lifeStandard: try common.lifeStandard())
    let records: [[UInt8]: Replica.LocalRecord] = try replica.records(ids: named.recordIDs)
    let tables = NamedTable.lists(
      rollUp: rollUp, named: named, records: records.mapValues { $0.body }, owners: records.mapValues { $0.unitID },
      units: try replica.units(), year: year, periodLabel: period, today: today)
    if output.format == .json {
      let objects = tables.map {
        ["id": $0.id, "heading": $0.heading, "columns": $0.columns, "rows": $0.rows] as [String: Any]
      }
      let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
      print(String(decoding: data, as: UTF8.self))
      return
    }
    for table in tables {
      print("\(table.heading)（\(table.rows.count)）")
      if !table.rows.isEmpty {
        print(Table(columns: table.columns, rows: table.rows).render(output.format))
      }
      print("")
    }
  }
}

/// The unit named by `--unit CODE`, or this device's own.
func subtreeRoot(_ code: String?, replica: Replica, identity: Replica.Identity) throws -> [UInt8] {
  guard let code else { return identity.unitID }
  guard let id = try unitLookup(replica)(code) else {
    throw Failure(message: "no unit with code \(code) in this device's data", code: Exit.badValue)
  }
  return id
}

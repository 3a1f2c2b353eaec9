import ArgumentParser
import CSV
import Foundation
import Logging
import Metrics
import NIOSSL
import OrgSyncCLI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncSample
import OrgSyncServer
import OrgSyncStore
import Prometheus
import ServiceLifecycle

@main
struct Orgsyncd: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "orgsyncd",
    abstract: "The OrgSync server: the hierarchy and every record, on embedded SQLite.",
    discussion:
      "Data lives in --data (default $ORGSYNC_DATA or ./orgsync-data). Exit codes: 0 done; 64 bad command line; 65 bad input data; 69 `serve` could not serve (the port in use, say: the line before says what); 70 unexpected error; 75 the data folder is in use by a running server (stop it first).",
    version: OrgSyncVersion.current,
    subcommands: [
      Init.self, Import.self, SeedSample.self, EnrollCode.self, Devices.self, Serve.self, Backup.self, Restore.self,
      Histories.self, TLSCommand.self,
    ])
}

struct DataOptions: ParsableArguments {
  @Option(help: "The server's data folder (default $ORGSYNC_DATA or ./orgsync-data).") var data: String?

  var folder: URL {
    URL(fileURLWithPath: data ?? ProcessInfo.processInfo.environment["ORGSYNC_DATA"] ?? "orgsync-data")
  }

  var databasePath: String { folder.appendingPathComponent("server.sqlite").path }
  var lockPath: String { folder.appendingPathComponent("serve.lock").path }

  @Option(
    help: """
      Keep the records in PostgreSQL instead of the data folder's SQLite file: \
      postgres://USER@HOST:PORT/DATABASE (default $ORGSYNC_POSTGRES). Several servers may share one.
      """)
  var postgres: String?

  var postgresURL: String? {
    (postgres ?? ProcessInfo.processInfo.environment["ORGSYNC_POSTGRES"]).flatMap { $0.isEmpty ? nil : $0 }
  }

  /// The store: PostgreSQL when one is named, else the initialised folder's SQLite file.
  func store() async throws -> any SQLRecordStore {
    if let url = postgresURL {
      do {
        return try await PostgresStore(url: url)
      } catch let error as StoreError {
        throw ValidationError("cannot use the PostgreSQL database: \(error.message)")
      } catch {
        throw ValidationError("cannot reach the PostgreSQL database (\(error))")
      }
    }
    guard FileManager.default.fileExists(atPath: databasePath) else {
      throw ValidationError("no server data in \(folder.path): run `orgsyncd init` first")
    }
    return try SQLiteStore(path: databasePath)
  }

  /// Backup and restore are the SQLite file's; PostgreSQL has its own tools.
  func requireSQLite(_ command: String) throws {
    guard postgresURL == nil else {
      throw ValidationError(
        "`orgsyncd \(command)` copies the SQLite file; on PostgreSQL use pg_dump and pg_restore (README, \"PostgreSQL\")"
      )
    }
  }
}

struct Init: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create the data folder, its database and the county's certificate authority (TLS).")
  @OptionGroup var options: DataOptions
  @Option(
    name: .customLong("host"),
    help: "A name or IPv4 address devices use to reach the server (repeat for several); localhost is always included.")
  var hosts: [String] = []

  func run() async throws {
    try FileManager.default.createDirectory(
      at: options.folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    if let url = options.postgresURL {
      _ = try await options.store()
      print("the PostgreSQL database \(PostgresStore.redacted(url)) holds the tables")
    } else {
      if FileManager.default.fileExists(atPath: options.databasePath) {
        throw ValidationError("\(options.databasePath) exists already; nothing was changed")
      }
      _ = try SQLiteStore(path: options.databasePath)
      print("created \(options.databasePath)")
    }
    let authority = CountyAuthority(dataFolder: options.folder)
    if !authority.exists {
      try authority.create(hosts: hosts)
      print("created the county's certificate authority in \(authority.folder.path); enrolment codes carry its pin")
    }
  }
}

struct Import: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Import or update the hierarchy from CSV (code,name,level,kind,parent_code) or a JSON array of the same keys.",
    discussion:
      "level: central, province, city, county, township, grassroots (or 中央, 省, 市, 县, 乡镇, 村). kind: committee, working-committee, general-branch, branch, party-group (or 党委, 工委, 党总支, 党支部, 党组). The root has an empty parent_code; parents come before children. A unit whose code exists is updated: a changed name, level, kind or parent is applied (a new parent moves its subtree). CSV files may be UTF-8 (with or without a byte-order mark) or GBK/GB18030, as Excel on Chinese Windows saves them; quoted cells may hold commas."
  )
  @OptionGroup var options: DataOptions
  @Argument(help: "The file (.csv or .json).") var file: String

  func run() async throws {
    let store = try await options.store()
    guard let data = FileManager.default.contents(atPath: file) else {
      throw ValidationError("cannot read \(file)")
    }
    let text = try Self.decode(data, name: file)
    let rows = try file.hasSuffix(".json") ? Self.parseJSON(text) : Self.parseCSV(text)
    var ids: [String: [UInt8]] = [:]
    var before: [String: Orgsync_V1_OrgUnit] = [:]
    for existing in try await store.units() {
      ids[existing.unit.code] = existing.id
      before[existing.unit.code] = existing.unit
    }
    var units: [(id: [UInt8], unit: Orgsync_V1_OrgUnit)] = []
    for (line, row) in rows.enumerated() {
      guard let code = row["code"], !code.isEmpty, let name = row["name"] else {
        throw ValidationError("row \(line + 1): code and name are required")
      }
      var unit: Orgsync_V1_OrgUnit
      do {
        unit = try FieldInput(type: .orgUnit).body(
          [
            "code": code, "name": name, "level": Self.alias(row["level"] ?? "", Self.levels),
            "kind": Self.alias(row["kind"] ?? "", Self.kinds),
          ]
        ).orgUnit
      } catch let error as InputError {
        throw ValidationError("row \(line + 1) (\(code)): \(error.message)")
      }
      if let parent = row["parent_code"], !parent.isEmpty {
        guard let parentID = ids[parent] else {
          throw ValidationError("row \(line + 1) (\(code)): parent \(parent) is neither imported nor listed before it")
        }
        unit.parentID = Data(parentID)
      }
      if let old = before[code] {  // the branch's own contact fields stay as they are
        unit.secretary = old.secretary
        unit.phone = old.phone
        unit.address = old.address
      }
      let id = ids[code] ?? RecordID.make()
      ids[code] = id
      units.append((id, unit))
    }
    let results = try await store.importUnits(units)
    var added = 0
    var updated = 0
    var unchanged = 0
    var refused = 0
    for ((_, unit), result) in zip(units, results) {
      if result.outcome == .rejected {
        refused += 1
        FileHandle.standardError.write(Data("refused \(unit.code): \(result.field) \(result.reason)\n".utf8))
      } else if let old = before[unit.code] {
        let changed = Self.changedFields(old, unit)
        if changed.isEmpty {
          unchanged += 1
        } else {
          updated += 1
          print("updated \(unit.code): \(changed.joined(separator: ", "))")
        }
      } else {
        added += 1
      }
    }
    print("imported \(added) new units, updated \(updated), unchanged \(unchanged), refused \(refused)")
    if refused > 0 { throw ExitCode(65) }
  }

  static func changedFields(_ a: Orgsync_V1_OrgUnit, _ b: Orgsync_V1_OrgUnit) -> [String] {
    var changed: [String] = []
    if a.name != b.name { changed.append("name") }
    if a.level != b.level { changed.append("level") }
    if a.kind != b.kind { changed.append("kind") }
    if a.parentID != b.parentID { changed.append("parent") }
    return changed
  }

  /// Chinese names (simplified and traditional) of levels and kinds, as an office writes them.
  static let levels: [String: String] = [
    "中央": "central", "省": "province", "市": "city", "地市": "city", "县": "county", "縣": "county", "区": "county",
    "乡镇": "township", "鄉鎮": "township", "镇": "township", "鎮": "township", "乡": "township", "鄉": "township",
    "街道": "township", "村": "grassroots", "社区": "grassroots", "社區": "grassroots", "基层": "grassroots",
    "基層": "grassroots",
  ]
  static let kinds: [String: String] = [
    "党委": "committee", "黨委": "committee", "工委": "working-committee", "党工委": "working-committee",
    "黨工委": "working-committee", "党总支": "general-branch", "黨總支": "general-branch", "党支部": "branch",
    "黨支部": "branch", "支部": "branch", "党组": "party-group", "黨組": "party-group",
  ]

  static func alias(_ value: String, _ names: [String: String]) -> String {
    let trimmed = value.trimmingCharacters(in: .whitespaces)
    return names[trimmed] ?? trimmed
  }

  /// UTF-8 (a byte-order mark is dropped), else GB18030 (which covers GBK) through the C
  /// library's iconv — what Excel on Chinese Windows writes.
  static func decode(_ data: Data, name: String) throws -> String {
    var bytes = [UInt8](data)
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    if let text = GB18030.decode(bytes) { return text }
    throw ValidationError("\(name) is neither UTF-8 nor GBK/GB18030 text")
  }

  /// Cells by header name; quoted cells may hold commas, quotes and line breaks (RFC 4180).
  static func parseCSV(_ text: String) throws -> [[String: String]] {
    let reader: CSVReader
    do {
      reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true)
    } catch {
      throw ValidationError("the CSV file cannot be read: \(error)")
    }
    let header = (reader.headerRow ?? []).map { $0.trimmingCharacters(in: .whitespaces) }
    var rows: [[String: String]] = []
    while let cells = reader.next() {
      if cells.allSatisfy({ $0.isEmpty }) { continue }
      rows.append(Dictionary(zip(header, cells).map { ($0, $1) }, uniquingKeysWith: { a, _ in a }))
    }
    if let error = reader.error { throw ValidationError("the CSV file cannot be read: \(error)") }
    return rows
  }

  static func parseJSON(_ text: String) throws -> [[String: String]] {
    guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
      throw ValidationError("the JSON file must hold an array of objects")
    }
    return array.map { $0.mapValues { "\($0)" } }
  }
}

/// GB18030 (a superset of GBK and GB2312) to UTF-8 with iconv(3) from the C library; Foundation
/// on Linux has no such encoding, and no package in reach converts it.
enum GB18030 {
  static func decode(_ bytes: [UInt8]) -> String? {
    let converter = iconv_open("UTF-8", "GB18030")
    guard converter != iconv_t(bitPattern: -1) else { return nil }
    defer { iconv_close(converter) }
    var input = bytes.map { CChar(bitPattern: $0) }
    var output = [CChar](repeating: 0, count: bytes.count * 4 + 16)
    let produced: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
      output.withUnsafeMutableBufferPointer { outBuffer in
        var inPointer: UnsafeMutablePointer<CChar>? = inBuffer.baseAddress
        var inLeft = inBuffer.count
        var outPointer: UnsafeMutablePointer<CChar>? = outBuffer.baseAddress
        var outLeft = outBuffer.count
        guard iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft) != -1, inLeft == 0 else { return nil }
        return outBuffer.count - outLeft
      }
    }
    guard let produced else { return nil }
    return String(decoding: output[0..<produced].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}

struct SeedSample: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "seed-sample", abstract: "Fill an empty server with a generated county (reproducible from its seed).")
  @OptionGroup var options: DataOptions
  @Option(help: "Townships under the county.") var townships = 20
  @Option(help: "Village branches per township.") var villages = 24
  @Option(help: "Members per village.") var members = 40
  @Option(help: "The generator's seed.") var seed: UInt64 = 2026

  func run() async throws {
    let store = try await options.store()
    guard try await store.units().isEmpty else {
      throw ValidationError("the server has units already; seed-sample fills an empty one")
    }
    var sampleOptions = SampleCounty.Options()
    sampleOptions.townships = townships
    sampleOptions.villagesPerTownship = villages
    sampleOptions.membersPerVillage = members
    sampleOptions.seed = seed
    let sample = SampleCounty(options: sampleOptions)
    _ = try await store.importUnits(sample.units)
    let admin = Actor(deviceID: Array("orgsyncd-seed".utf8), unitID: sample.countyID, role: .admin)
    var rejected: [String: Int] = [:]
    for start in stride(from: 0, to: sample.records.count, by: 1000) {
      let batch = Array(sample.records[start..<min(start + 1000, sample.records.count)])
      for result in try await store.push(batch, actor: admin) where result.outcome == .rejected {
        rejected["\(result.field): \(result.reason)", default: 0] += 1
      }
    }
    let refused = rejected.values.reduce(0, +)
    print("seeded \(sample.units.count) units and \(sample.records.count - refused) records (seed \(seed))")
    // The generator should make only valid records; say so loudly if it did not.
    for (reason, count) in rejected.sorted(by: { $0.value > $1.value }) {
      FileHandle.standardError.write(Data("orgsyncd: \(count) sample records refused — \(reason)\n".utf8))
    }
    if refused > 0 { throw ExitCode(1) }
  }
}

struct EnrollCode: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enroll", abstract: "Print a one-time enrolment code for a unit and role.")
  @OptionGroup var options: DataOptions
  @Option(help: "The unit's code.") var unit: String
  @Option(help: "branch, committee or admin.") var role: String
  @Option(help: "Hours the code stays valid.") var validHours = 72

  func run() async throws {
    let store = try await options.store()
    guard let unitID = try await store.unitID(code: unit) else {
      throw ValidationError("no unit with code \(unit)")
    }
    let roles: [String: Orgsync_V1_DeviceRole] = ["branch": .branch, "committee": .committee, "admin": .admin]
    guard let role = roles[role] else { throw ValidationError("the role is branch, committee or admin") }
    guard (1...24 * 30).contains(validHours) else { throw ValidationError("--valid-hours is 1 to 720") }
    let code = try await store.makeEnrollmentCode(unitID: unitID, role: role, validSeconds: Int64(validHours) * 3600)
    // With TLS (the default) the code carries the CA's pin: the PC needs nothing else.
    let authority = CountyAuthority(dataFolder: options.folder)
    print(EnrollmentPin.printed(code: code, pin: authority.exists ? try authority.pin() : nil))
  }
}

struct Devices: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Enrolled devices.", subcommands: [ListDevices.self, Revoke.self], defaultSubcommand: ListDevices.self)

  struct ListDevices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List enrolled devices.")
    @OptionGroup var options: DataOptions
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Flag devices that have not synced for this many days.") var silentDays = 14

    func run() async throws {
      let store = try await options.store()
      let names = Dictionary(try await store.units().map { ($0.id, $0.unit.name) }, uniquingKeysWith: { a, _ in a })
      var table = Table(columns: ["device", "name", "unit", "role", "enrolled", "last sync", "note", "revoked"])
      let format = ISO8601DateFormatter()
      let now = Date().timeIntervalSince1970 * 1000
      var silent = 0
      for d in try await store.devices() {
        let idle = now - Double(d.lastSeenAt ?? d.createdAt)
        let quiet = d.revokedAt == nil && idle > Double(silentDays) * 86_400_000
        if quiet { silent += 1 }
        table.rows.append([
          RecordID.string(d.id), d.name, names[d.unitID] ?? "?", "\(d.role)",
          format.string(from: Date(timeIntervalSince1970: TimeInterval(d.createdAt) / 1000)),
          d.lastSeenAt.map { format.string(from: Date(timeIntervalSince1970: TimeInterval($0) / 1000)) } ?? "never",
          quiet ? "SILENT \(Int(idle / 86_400_000)) days" : "",
          d.revokedAt.map { format.string(from: Date(timeIntervalSince1970: TimeInterval($0) / 1000)) } ?? "",
        ])
      }
      print(table.render(json ? .json : .table))
      if silent > 0, !json {
        print("\(silent) device(s) have not synced for more than \(silentDays) days")
      }
    }
  }

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke a device: its next call is refused.")
    @OptionGroup var options: DataOptions
    @Argument(help: "The device id, or its last 8 digits as `devices list` shows them.") var device: String

    func run() async throws {
      let store = try await options.store()
      let all = try await store.devices()
      // The full id, or its last digits as `devices list` shows them (unique among devices).
      let needle = device.lowercased().filter { $0 != "-" }
      let matches = all.filter { RecordID.string($0.id).filter { $0 != "-" }.hasSuffix(needle) }
      guard needle.count >= 6, matches.count == 1, let match = matches.first else {
        throw ValidationError(
          matches.count > 1
            ? "'\(device)' matches \(matches.count) devices; give more digits"
            : "no device id ends in '\(device)' (at least 6 digits; see `orgsyncd devices list`)")
      }
      try await store.revokeDevice(id: match.id)
      print("revoked \(RecordID.string(match.id)) (\(match.name))")
    }
  }
}

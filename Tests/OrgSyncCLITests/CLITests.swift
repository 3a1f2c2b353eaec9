import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

/// The real `orgsyncd` and `orgsync` executables, run as a county office and a village branch
/// would run them.
struct Tool {
  static let folder: URL = {
    var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
    candidates.append(
      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug"))
    return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("orgsync").path) }
      ?? candidates[0]
  }()

  static let passphrase = "太平村支部2026"

  /// Starts a process, one at a time in this test run: Foundation's `Process.run` on Linux was
  /// seen to crash (a bad read in memmove) when tests started processes at the same moment.
  static func spawn(_ process: Process) throws {
    try spawnLock.withLock { try process.run() }
  }
  private static let spawnLock = NSLock()
  /// A RAM-backed folder for opened keys, of this test run only.
  static let runtimeFolder: String = {
    let path = "/dev/shm/orgsync-tests-\(getpid())"
    mkdir(path, 0o700)
    return path
  }()

  struct Result {
    var status: Int32
    var out: String
    var err: String
  }

  /// Runs a tool to its end without holding a thread of Swift's cooperative pool (two on two
  /// cores): the waiting happens on a dispatch queue of its own.
  @discardableResult
  static func run(
    _ tool: String, _ arguments: [String], home: URL? = nil, environment extra: [String: String] = [:]
  ) async throws -> Result {
    try await offPool { try runBlocking(tool, arguments, home: home, environment: extra) }
  }

  static func runBlocking(
    _ tool: String, _ arguments: [String], home: URL? = nil, environment extra: [String: String] = [:]
  ) throws -> Result {
    let process = Process()
    process.executableURL = folder.appendingPathComponent(tool)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    if let home { environment["ORGSYNC_HOME"] = home.path }
    // As a script would run it: the passphrase from the environment, the opened key kept in
    // a RAM-backed folder of the test run's own.
    environment["ORGSYNC_PASSPHRASE"] = passphrase
    environment["XDG_RUNTIME_DIR"] = runtimeFolder
    environment.merge(extra) { _, new in new }
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try Tool.spawn(process)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
      err: String(decoding: errData, as: UTF8.self))
  }
}

/// Runs blocking work (waiting for a process, reading its pipes) off the cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    DispatchQueue(label: "orgsync.test.blocking").async { continuation.resume(with: Result { try body() }) }
  }
}

/// A running `orgsyncd serve` on 127.0.0.1 with a small generated county.
final class Daemon: @unchecked Sendable {
  let folder: URL
  let data: String
  var ownsFolder = true
  var process: Process?
  var port = 0
  /// `--postgres URL` when the records live in PostgreSQL, for every command.
  var storeArguments: [String] = []

  init(townships: Int = 2, villages: Int = 3, members: Int = 5, postgres: String? = nil) async throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-cli-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    data = folder.appendingPathComponent("server").path
    storeArguments = postgres.map { ["--postgres", $0] } ?? []
    #expect(try await Tool.run("orgsyncd", ["init", "--data", data] + storeArguments).status == 0)
    let seeded = try await Tool.run(
      "orgsyncd",
      [
        "seed-sample", "--data", data, "--townships", "\(townships)", "--villages", "\(villages)", "--members",
        "\(members)",
      ] + storeArguments)
    #expect(seeded.status == 0, "\(seeded.err)")
  }

  /// What the server wrote to its standard error (drained all the time, so that a full pipe
  /// never blocks it).
  let log = LogBuffer()

  /// A daemon for a data folder made elsewhere (not removed at the end).
  init(existing data: String, folder: URL, storeArguments: [String] = []) async throws {
    self.folder = folder
    self.data = data
    self.ownsFolder = false
    self.storeArguments = storeArguments
  }

  func start(_ extra: [String] = []) async throws {
    let process = Process()
    process.executableURL = Tool.folder.appendingPathComponent("orgsyncd")
    // The first start picks a free port; a restart takes the same one again.
    // A long handshake deadline: a test on a busy machine must not hinge on a few seconds.
    process.arguments =
      ["serve", "--data", data, "--host", "127.0.0.1", "--port", "\(port)", "--hello-timeout", "300"]
      + storeArguments + extra
    let previous = port
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    let log = self.log
    log.reset()
    err.fileHandleForReading.readabilityHandler = { handle in
      let chunk = handle.availableData
      if chunk.isEmpty { handle.readabilityHandler = nil } else { log.append(chunk) }
    }
    try Tool.spawn(process)
    self.process = process
    // The log line "listening address=[IPv4]127.0.0.1/127.0.0.1:PORT" names the port.
    let found = try await offPool { () -> Int in
      let deadline = Date() + 300
      while Date() < deadline {
        if let line = log.text.split(separator: "\n").first(where: { $0.contains("listening") }),
          let colon = line.lastIndex(of: ":")
        {
          return Int(line[line.index(after: colon)...].prefix { $0.isNumber }) ?? 0
        }
        if !process.isRunning { return 0 }
        usleep(10_000)
      }
      return 0
    }
    port = found
    if previous != 0 { #expect(port == previous) }
  }

  func code(unit: String, role: String) async throws -> String {
    let result = try await Tool.run(
      "orgsyncd", ["enroll", "--data", data, "--unit", unit, "--role", role] + storeArguments)
    #expect(result.status == 0, "\(result.err)")
    return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func stop() async {
    guard let process else { return }
    process.interrupt()
    _ = try? await offPool { process.waitUntilExit() }
    self.process = nil
  }

  deinit {
    if let process, process.isRunning {
      process.interrupt()
      process.waitUntilExit()
    }
    if ownsFolder { try? FileManager.default.removeItem(at: folder) }
  }
}

/// Text collected from a pipe on another thread.
final class LogBuffer: @unchecked Sendable {
  private let lock = NSLock()
  private var data = Data()

  func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
  func reset() { lock.withLock { data = Data() } }
  var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

@Suite("Command line, end to end")
struct CLITests {
  @Test("a branch enrols, adds offline, syncs; the county's roll-up counts it")
  func endToEnd() async throws {
    let daemon = try await Daemon()
    try await daemon.start()
    #expect(daemon.port > 0)
    let branch = daemon.folder.appendingPathComponent("branch")
    let county = daemon.folder.appendingPathComponent("county")
    let server = "127.0.0.1:\(daemon.port)"
    let enrolled = try await Tool.run(
      "orgsync",
      ["enroll", "--server", server, "--code", try await daemon.code(unit: "430521-100-001", role: "branch")],
      home: branch)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    #expect(enrolled.out.contains("太平村党支部"))
    #expect(
      try await Tool.run(
        "orgsync", ["enroll", "--server", server, "--code", try await daemon.code(unit: "430521", role: "committee")],
        home: county
      ).status == 0)

    // Offline: the server is down while the branch enters data.
    await daemon.stop()
    let added = try await Tool.run(
      "orgsync",
      // As a secretary types it: the closed sets take their Chinese names too.
      ["add", "member", "--name", "张三丰", "--status", "正式党员", "--gender", "男", "--birth-date", "1960-02-29"],
      home: branch)
    #expect(added.status == 0, "\(added.err)")
    let down = try await Tool.run("orgsync", ["sync"], home: branch)
    #expect(down.status == 69)
    #expect(down.err.contains("nothing entered is lost"))
    #expect(try await Tool.run("orgsync", ["status", "--json"], home: branch).out.contains("\"queued\" : 1"))

    try await daemon.start()
    let synced = try await Tool.run("orgsync", ["sync"], home: branch)
    #expect(synced.status == 0, "\(synced.err)")
    #expect(synced.out.contains("sent 1"))
    #expect(try await Tool.run("orgsync", ["sync"], home: county).status == 0)

    // The county's Q3 roll-up, checked against the generator's arithmetic: per township,
    // 3 villages × 5 members + 3 cadres; the first township has the new member too; reports are
    // due from each village; every village holds 2 meetings a month, 6 in a quarter.
    let result = try await Tool.run("orgsync", ["aggregate", "--period", "2026-Q3", "--json"], home: county)
    #expect(result.status == 0, "\(result.err)")
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [[String: Any]])
    // Rows: the county's own level (its 12 cadres), the two townships, the total. Counts are
    // JSON numbers; keys are snake_case.
    #expect(rows.map { $0["unit"] as? String ?? "" } == ["中共邵东县委员会", "中共廉桥镇委员会", "中共流光岭镇委员会", "total"])
    // The generator makes full and probationary members, activists and applicants (no one
    // deceased or gone): party members and the pipeline add up to the member records.
    func people(_ row: [String: Any]) -> Int? {
      guard let party = row["party_members"] as? Int, let pipeline = row["in_pipeline"] as? Int else { return nil }
      return party + pipeline
    }
    #expect(rows[0]["party_members"] as? Int == 12, "the county's own cadres are all full members")
    #expect(people(rows[1]) == 19)
    #expect(people(rows[2]) == 18)
    #expect((rows[1]["reports"] as? String)?.hasSuffix("/4") == true, "three villages and the township itself")
    #expect(rows[1]["meetings"] as? Int == 18)
    #expect(people(rows[3]) == 49)
    #expect(rows[3]["no_lecture"] is Int, "snake_case keys, numbers as numbers")

    // The same numbers offline, from the county's replica.
    let offline = try await Tool.run(
      "orgsync", ["aggregate", "--period", "2026-Q3", "--json", "--offline"], home: county)
    #expect(offline.out == result.out)
  }

  @Test("over TLS: a client that trusts the county's CA syncs; one that trusts another is refused")
  func tls() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    let pki = try PEMAuthority(folder: daemon.folder)
    try await daemon.start(["--tls-certificate", pki.certificate, "--tls-key", pki.key])
    let home = daemon.folder.appendingPathComponent("branch")
    let server = "127.0.0.1:\(daemon.port)"
    let code = try await daemon.code(unit: "430521-100-001", role: "branch")
    let other = try PEMAuthority(folder: daemon.folder.appendingPathComponent("other"))
    let refused = try await Tool.run(
      "orgsync", ["enroll", "--server", server, "--code", code, "--ca-file", other.authority],
      home: daemon.folder.appendingPathComponent("impostor"))
    #expect(refused.status == 76, "named as a server the county's authority did not sign: \(refused.err)")
    let enrolled = try await Tool.run(
      "orgsync", ["enroll", "--server", server, "--code", code, "--ca-file", pki.authority], home: home)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    let synced = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(synced.status == 0, "\(synced.err)")
    #expect(synced.out.contains("received"))
  }

  @Test(
    "TLS by default: the code is all a PC needs; an impostor server is refused; a renewed certificate needs nothing")
  func tlsByDefault() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = daemon.folder.appendingPathComponent("branch")
    let code = try await daemon.code(unit: "430521-100-001", role: "branch")
    // Another server (its own authority) at the address the PC was given: refused, nothing saved.
    let impostor = try await Daemon(townships: 1, villages: 1, members: 1)
    try await impostor.start()
    let refused = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(impostor.port)", "--code", code], home: home)
    #expect(refused.status == 77, "\(refused.err)")
    #expect(refused.err.contains("not the county's"), "\(refused.err)")
    #expect(try await Tool.run("orgsync", ["status"], home: home).status == 77, "still not enrolled")
    await impostor.stop()

    let enrolled = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", code], home: home)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    let synced = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(synced.status == 0, "\(synced.err)")
    #expect(synced.out.contains("received"))

    // The server's certificate is renewed from the same authority: the PC syncs as before.
    await daemon.stop()
    let renewed = try await Tool.run("orgsyncd", ["tls", "renew", "--data", daemon.data])
    #expect(renewed.status == 0, "\(renewed.err)")
    try await daemon.start()
    let again = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(again.status == 0, "\(again.err)")
  }

  @Test("a move to a new certificate authority: announced through sync, then switched; a PC that synced needs nothing")
  func authorityMove() async throws {
    let daemon = try await Daemon(townships: 1, villages: 2, members: 1)
    try await daemon.start()
    let server = "127.0.0.1:\(daemon.port)"
    let synced = daemon.folder.appendingPathComponent("synced")
    let away = daemon.folder.appendingPathComponent("away")
    for (home, unit) in [(synced, "430521-100-001"), (away, "430521-100-002")] {
      let code = try await daemon.code(unit: unit, role: "branch")
      #expect(try await Tool.run("orgsync", ["enroll", "--server", server, "--code", code], home: home).status == 0)
      #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    }
    await daemon.stop()
    #expect(try await Tool.run("orgsyncd", ["tls", "rotate", "--data", daemon.data]).status == 0)
    try await daemon.start()
    #expect(try await Tool.run("orgsync", ["sync"], home: synced).status == 0, "learns of the new authority")
    await daemon.stop()
    // One PC has not synced since: the switch is refused until it has, or until forced.
    let refused = try await Tool.run("orgsyncd", ["tls", "switch", "--data", daemon.data])
    #expect(refused.status != 0)
    #expect(refused.err.contains("1 PCs have not synced"), "\(refused.err)")
    #expect(try await Tool.run("orgsyncd", ["tls", "switch", "--data", daemon.data, "--force"]).status == 0)
    try await daemon.start()
    let after = try await Tool.run("orgsync", ["sync"], home: synced)
    #expect(after.status == 0, "the PC that synced trusts the new authority: \(after.err)")
    let stranded = try await Tool.run("orgsync", ["sync"], home: away)
    #expect(stranded.status == 76, "told the server's certificate is not one it trusts: \(stranded.err)")
    // It enrols again in place with a new code (which carries the new pin).
    let code = try await daemon.code(unit: "430521-100-002", role: "branch")
    let again = try await Tool.run(
      "orgsync", ["enroll", "--replace", "--server", server, "--code", code],
      home: away)
    #expect(again.status == 0, "\(again.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: away).status == 0)
  }

  @Test("a hierarchy imports from CSV; a bad row is refused before anything is written")
  func importCSV() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-import-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = folder.appendingPathComponent("server").path
    #expect(try await Tool.run("orgsyncd", ["init", "--data", data]).status == 0)
    let bad = folder.appendingPathComponent("bad.csv")
    try """
    code,name,level,kind,parent_code
    430521,中共邵东县委员会,county,committee,
    430521-100,中共廉桥镇委员会,village,committee,430521
    """.write(to: bad, atomically: true, encoding: .utf8)
    let refused = try await Tool.run("orgsyncd", ["import", "--data", data, bad.path])
    #expect(refused.status != 0)
    #expect(refused.err.contains("row 2 (430521-100)"), "\(refused.err)")
    #expect(refused.err.contains("--level must be one of"), "\(refused.err)")
    let good = folder.appendingPathComponent("good.csv")
    try """
    code,name,level,kind,parent_code
    430521,中共邵东县委员会,county,committee,
    430521-100,中共廉桥镇委员会,township,committee,430521
    430521-100-001,太平村党支部,grassroots,branch,430521-100
    """.write(to: good, atomically: true, encoding: .utf8)
    let imported = try await Tool.run("orgsyncd", ["import", "--data", data, good.path])
    #expect(imported.status == 0, "\(imported.err)")
    #expect(imported.out.contains("imported 3 new units, updated 0, unchanged 0, refused 0"), "\(imported.out)")
    let code = try await Tool.run(
      "orgsyncd", ["enroll", "--data", data, "--unit", "430521-100-001", "--role", "branch"])
    #expect(code.status == 0)
    // The one-time code (12 characters) and the CA's pin (16), in groups of four.
    #expect(code.out.trimmingCharacters(in: .whitespacesAndNewlines).count == 34)
  }

  @Test("bad command lines and values get clear errors and change nothing")
  func badInput() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = daemon.folder.appendingPathComponent("branch")
    #expect(
      try await Tool.run(
        "orgsync",
        [
          "enroll", "--server", "127.0.0.1:\(daemon.port)", "--code",
          try await daemon.code(unit: "430521-100-001", role: "branch"),
        ],
        home: home
      ).status == 0)
    let cases: [([String], Int32, String)] = [
      (["add", "member", "--nmae", "李四"], 65, "has no field --nmae"),
      (["add", "member", "--name", "李四", "--birth-date", "1990-02-30"], 65, "real date"),
      (["add", "member", "--name", "李四", "--status", "boss"], 65, "must be one of"),
      (["add", "member", "--name", "李四", "--status", "老板"], 65, "full (正式党员)"),
      (["add", "opinion", "--content", "路灯坏了"], 65, "source is required"),
      (["add", "spaceship"], 64, "unknown record type"),
      (["aggregate", "--period", "2026-Q5"], 64, "the period is"),
      (["edit", "zzzz", "--name", "x"], 65, "not a record id"),
    ]
    for (arguments, status, message) in cases {
      let result = try await Tool.run("orgsync", arguments, home: home)
      #expect(result.status == status, "\(arguments): \(result.err)")
      #expect(result.err.contains(message), "\(arguments): \(result.err)")
    }
    let status = try await Tool.run("orgsync", ["status", "--json"], home: home)
    #expect(status.out.contains("\"queued\" : 0"), "nothing was queued: \(status.out)")
    let wrongCode = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", try await guessedCode(daemon)],
      home: daemon.folder.appendingPathComponent("other"))
    #expect(wrongCode.status == 77)
    let emptyName = try await Tool.run(
      "orgsync",
      [
        "enroll", "--server", "127.0.0.1:\(daemon.port)", "--code",
        try await daemon.code(unit: "430521-100-001", role: "branch"), "--name", " ",
      ], home: daemon.folder.appendingPathComponent("nameless"))
    #expect(emptyName.status == 65, "\(emptyName.err)")
    #expect(emptyName.err.contains("device name"), "\(emptyName.err)")
    let badUnit = try await Tool.run(
      "orgsyncd", ["enroll", "--data", daemon.data, "--unit", "999", "--role", "branch"])
    #expect(badUnit.status != 0)
    #expect(badUnit.err.contains("no unit with code 999"))
  }
}

/// A certificate authority and a server certificate for 127.0.0.1, written as PEM files.
struct PEMAuthority {
  let authority: String
  let certificate: String
  let key: String

  /// `expired`: the server certificate's last valid moment has passed.
  init(folder: URL, expired: Bool = false) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let now = Date()
    let caKey = P256.Signing.PrivateKey()
    let caName = try DistinguishedName { CommonName("OrgSync county CA") }
    let ca = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: now - 3600,
      notValidAfter: now + 3600, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(keyCertSign: true))
      }, issuerPrivateKey: .init(caKey))
    let serverKey = P256.Signing.PrivateKey()
    let server = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey), notValidBefore: now - 7200,
      notValidAfter: expired ? now - 60 : now + 3600, issuer: caName,
      subject: try DistinguishedName { CommonName("orgsyncd") },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])), .dnsName("localhost")])
        try ExtendedKeyUsage([.serverAuth])
      }, issuerPrivateKey: .init(caKey))
    authority = folder.appendingPathComponent("ca.pem").path
    certificate = folder.appendingPathComponent("server.pem").path
    key = folder.appendingPathComponent("server.key").path
    try ca.serializeAsPEM().pemString.write(toFile: authority, atomically: true, encoding: .utf8)
    try server.serializeAsPEM().pemString.write(toFile: certificate, atomically: true, encoding: .utf8)
    try serverKey.pemRepresentation.write(toFile: key, atomically: true, encoding: .utf8)
  }
}

/// A code the server never issued, with the county's pin (so the TLS check passes and the
/// code itself is what is refused).
func guessedCode(_ daemon: Daemon) async throws -> String {
  let real = try await daemon.code(unit: "430521", role: "committee")
  return "AAAA-BBBB-CCCC" + real.dropFirst(14)
}

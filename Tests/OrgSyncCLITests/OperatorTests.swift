import Foundation
import Testing

/// What an operator and a village office meet in real life: backups and restores, admin
/// commands beside a serving server, a revoked or damaged PC, a full disk.
@Suite("Operators and recovery, end to end")
struct OperatorTests {
  func branch(_ daemon: Daemon, _ name: String = "branch") async throws -> URL {
    try await enrolledBranch(daemon, name)
  }

  func names(_ home: URL) async throws -> [String] {
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: home)
    #expect(listed.status == 0, "\(listed.err)")
    let rows = try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]] ?? []
    return rows.compactMap { $0["name"] as? String }
  }

  @Test("both binaries print their version; an unknown log level is refused")
  func versionAndFlags() async throws {
    for tool in ["orgsync", "orgsyncd"] {
      let version = try await Tool.run(tool, ["--version"])
      #expect(version.status == 0)
      #expect(version.out.split(separator: ".").count == 3, "\(tool): \(version.out)")
    }
    let bad = try await Tool.run("orgsyncd", ["serve", "--data", "/nonexistent", "--log-level", "loud"])
    #expect(bad.status == 64)
    #expect(bad.err.contains("--log-level"))
  }

  @Test("backup while serving, restore with the server stopped: the branch's later records come back")
  func backupAndRestore() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await branch(daemon)
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    let backup = daemon.folder.appendingPathComponent("nightly.sqlite").path
    let copied = try await Tool.run("orgsyncd", ["backup", "--data", daemon.data, backup])
    #expect(copied.status == 0, "\(copied.err)")
    #expect(copied.out.contains("backed up"))

    for name in ["邓小英", "刘志强"] {
      #expect(
        try await Tool.run("orgsync", ["add", "member", "--name", name, "--status", "full"], home: home).status == 0)
    }
    let synced = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(synced.out.contains("sent 2"), "\(synced.out)")

    let refused = try await Tool.run("orgsyncd", ["restore", "--data", daemon.data, backup])
    #expect(refused.status == 75, "restore refuses while the server runs: \(refused.err)")
    await daemon.stop()
    let restored = try await Tool.run("orgsyncd", ["restore", "--data", daemon.data, backup])
    #expect(restored.status == 0, "\(restored.err)")
    #expect(restored.out.contains("new history"))
    #expect(restored.out.contains("before-restore"), "the replaced file is kept")
    try await daemon.start()

    let healed = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(healed.status == 0, "\(healed.err)")
    #expect(healed.out.contains("restored from an older copy"), "\(healed.out)")
    let verified = try await Tool.run("orgsync", ["verify"], home: home)
    #expect(verified.out.contains("verified"), "\(verified.out) \(verified.err)")
    // A second branch device sees both records: they are on the server again.
    let other = try await branch(daemon, "second")
    #expect(try await Tool.run("orgsync", ["sync"], home: other).status == 0)
    let seen = try await names(other)
    #expect(seen.contains("邓小英") && seen.contains("刘志强"), "\(seen)")
    let histories = try await Tool.run("orgsyncd", ["histories", "--data", daemon.data])
    #expect(histories.out.contains("restore"))
  }

  @Test("50 enrolment codes made at once beside a serving server, then 20 PCs enrolling at once, all succeed")
  func parallelAdmin() async throws {
    let daemon = try await Daemon(townships: 1, villages: 2, members: 2)
    try await daemon.start()
    // Devices syncing meanwhile keep the server writing.
    let home = try await branch(daemon)
    for i in 0..<20 {
      _ = try await Tool.run("orgsync", ["add", "member", "--name", "党员\(i)", "--status", "full"], home: home)
    }
    async let syncing = Tool.run("orgsync", ["sync"], home: home)
    let results = try await withThrowingTaskGroup(of: Tool.Result.self) { group in
      for _ in 0..<50 {
        group.addTask {
          try await Tool.run(
            "orgsyncd", ["enroll", "--data", daemon.data, "--unit", "430521-100-002", "--role", "branch"])
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(try await syncing.status == 0)
    let failed = results.filter { $0.status != 0 }
    #expect(failed.isEmpty, "\(failed.count) failed: \(failed.first?.err ?? "")")
    let codes = Set(results.map { $0.out.trimmingCharacters(in: .whitespacesAndNewlines) })
    #expect(codes.count == 50 && codes.allSatisfy { $0.count == 34 })
    // And 20 PCs enrol over the wire at once with them.
    let enrolled = try await withThrowingTaskGroup(of: Tool.Result.self) { group in
      for (i, code) in codes.prefix(20).enumerated() {
        group.addTask {
          try await Tool.run(
            "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", code],
            home: daemon.folder.appendingPathComponent("pc\(i)"))
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    let refused = enrolled.filter { $0.status != 0 }
    #expect(refused.isEmpty, "\(refused.count) failed: \(refused.first?.err ?? "")")
  }

  @Test("a damaged data file: a clear error and exit 74, then recover keeps every queued edit")
  func damagedReplica() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await branch(daemon)
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    for name in ["黄小明", "郭丽华", "林大海"] {
      #expect(
        try await Tool.run("orgsync", ["add", "member", "--name", name, "--status", "full"], home: home).status == 0)
    }
    // A zeroed header, as a bad disk or a half-copied file leaves it.
    let file = home.appendingPathComponent("replica.sqlite").path
    for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
    try handle.write(contentsOf: Data(count: 100))
    try handle.close()
    for command in [["list", "member"], ["status"], ["sync"]] {
      let failed = try await Tool.run("orgsync", command, home: home)
      #expect(failed.status == 74, "\(command): \(failed.err)")
      #expect(failed.err.contains("orgsync recover"), "\(command): \(failed.err)")
    }
    let recovered = try await Tool.run("orgsync", ["recover"], home: home)
    #expect(recovered.status == 0, "\(recovered.err)")
    #expect(recovered.out.contains("3 queued edits"), "\(recovered.out)")
    let synced = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(synced.status == 0, "\(synced.err)")
    let listed = try await names(home)
    for name in ["黄小明", "郭丽华", "林大海"] { #expect(listed.contains(name), "\(name) in \(listed)") }
    #expect(try await Tool.run("orgsync", ["verify"], home: home).out.contains("verified"))
  }

  @Test("a revoked PC re-enrols in place with --replace and keeps its queued edits")
  func replaceAfterRevoke() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await branch(daemon)
    #expect(
      try await Tool.run("orgsync", ["add", "member", "--name", "何文", "--status", "full"], home: home).status == 0)
    let devices = try await Tool.run("orgsyncd", ["devices", "list", "--data", daemon.data, "--json"])
    let rows = try JSONSerialization.jsonObject(with: Data(devices.out.utf8)) as? [[String: Any]] ?? []
    let id = try #require(rows.first?["device"] as? String)
    let revoked = try await Tool.run("orgsyncd", ["devices", "revoke", "--data", daemon.data, String(id.suffix(8))])
    #expect(revoked.status == 0, "\(revoked.err)")
    let refused = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(refused.status == 77)
    #expect(refused.err.contains("--replace"), "\(refused.err)")
    let again = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", "X"], home: home)
    #expect(again.status == 64)
    #expect(again.err.contains("--replace"))
    let replaced = try await Tool.run(
      "orgsync",
      [
        "enroll", "--replace", "--server", "127.0.0.1:\(daemon.port)", "--code",
        try await daemon.code(unit: "430521-100-001", role: "branch"),
      ], home: home)
    #expect(replaced.status == 0, "\(replaced.err)")
    #expect(replaced.out.contains("kept 1 queued edits"), "\(replaced.out)")
    let synced = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(synced.out.contains("sent 1"), "\(synced.out) \(synced.err)")
    let listed = try await Tool.run("orgsyncd", ["devices", "list", "--data", daemon.data])
    #expect(listed.out.contains("never") || listed.out.contains("T"), "\(listed.out)")
  }

  @Test("/health says ok while the database can be written, and fails with the reason when the disk is short")
  func health() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    let admin = try freePort()
    try await daemon.start(["--admin-port", "\(admin)"])
    let ok = try await httpGet(port: admin, path: "/health")
    #expect(ok.hasPrefix("HTTP/1.1 200"), "\(ok)")
    #expect(ok.contains("database: writable"))
    #expect(ok.contains("sync listener: accepting on 127.0.0.1:\(daemon.port) with TLS"), "\(ok)")
    #expect(try await httpGet(port: admin, path: "/live").contains("alive"))
    await daemon.stop()
    // Ask for more free space than any disk has: the check must fail and say why.
    try await daemon.start(["--admin-port", "\(admin)", "--min-free-mib", "\(Int32.max)"])
    let short = try await httpGet(port: admin, path: "/health")
    #expect(short.hasPrefix("HTTP/1.1 503"), "\(short)")
    #expect(short.contains("disk: only"))
    _ = try await branch(daemon)
    let metrics = try await httpGet(port: admin, path: "/metrics")
    #expect(metrics.contains("orgsync_database_bytes"))
    #expect(metrics.contains("orgsync_connections"))
    #expect(metrics.contains("orgsync_rpc_calls_total{") && metrics.contains("Enroll") && metrics.contains("OK"))
    #expect(metrics.contains("orgsync_rpc_call_duration_seconds"))
    // A wrong enrolment code is counted, so guessing shows on a dashboard.
    let guessed = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", try await guessedCode(daemon)],
      home: daemon.folder.appendingPathComponent("guesser"))
    #expect(guessed.status == 77)
    #expect(try await httpGet(port: admin, path: "/metrics").contains("orgsync_enroll_refused_total 1"))
  }
}

/// Enrols a home (a branch PC) on the daemon's first village.
func enrolledBranch(_ daemon: Daemon, _ name: String = "branch") async throws -> URL {
  let home = daemon.folder.appendingPathComponent(name)
  let enrolled = try await Tool.run(
    "orgsync",
    [
      "enroll", "--server", "127.0.0.1:\(daemon.port)", "--code",
      try await daemon.code(unit: "430521-100-001", role: "branch"),
    ], home: home)
  #expect(enrolled.status == 0, "\(enrolled.err)")
  return home
}

/// A TCP port nobody listens on now.
func freePort() throws -> Int {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return Int(UInt16(bigEndian: address.sin_port))
}

/// A plain HTTP/1.1 GET on 127.0.0.1 (the admin port closes after each answer). The admin port
/// may open a moment after the sync port the daemon reported: connecting is retried for a minute.
func httpGet(port: Int, path: String) async throws -> String {
  for _ in 0..<600 {
    let answer = try await httpGetOnce(port: port, path: path)
    if answer != "connect failed" { return answer }
    try await Task.sleep(for: .milliseconds(100))
  }
  return "connect failed"
}

func httpGetOnce(port: Int, path: String) async throws -> String {
  try await offPool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { return "connect failed" }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 { break }
      response += buffer[0..<n]
    }
    return String(decoding: response, as: UTF8.self)
  }
}

@Suite("Refused edits, end to end")
struct RefusedEditsCLITests {
  @Test("refused on the device: exit 67, nothing saved; refused by the server: sync exits 68, then show and discard")
  func refusedEdits() async throws {
    let daemon = try await Daemon(townships: 1, villages: 2, members: 2)
    try await daemon.start()
    var homes: [URL] = []
    for name in ["office", "laptop"] {
      let home = daemon.folder.appendingPathComponent(name)
      let code = try await daemon.code(unit: "430521-100-001", role: "branch")
      let enrolled = try await Tool.run(
        "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", code], home: home)
      #expect(enrolled.status == 0, "\(enrolled.err)")
      #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
      homes.append(home)
    }
    let (office, laptop) = (homes[0], homes[1])

    // The device holds its tree now: a meeting for the county's own level is refused at once.
    let foreign = try await Tool.run(
      "orgsync",
      ["add", "meeting", "--unit", "430521", "--date", "2026-10-09", "--kind", "regular", "--topic", "县委例会"],
      home: office)
    #expect(foreign.status == 67, "\(foreign.err)")
    #expect(foreign.err.contains("nothing was saved"), "\(foreign.err)")

    // The office submits a report; the laptop, not yet told, rewrites it: only the server knows.
    let added = try await Tool.run(
      "orgsync",
      [
        "add", "report", "--year", "2026", "--period", "q3", "--kind", "quarterly-check", "--title", "第三季度检查报告",
        "--status", "draft",
      ], home: office)
    #expect(added.status == 0, "\(added.err)")
    let id = try #require(added.out.split(separator: " ").dropFirst(2).first.map(String.init))
    #expect(try await Tool.run("orgsync", ["sync"], home: office).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    let submitted = try await Tool.run(
      "orgsync", ["edit", id, "--status", "submitted", "--submitted-on", "2026-10-08"], home: office)
    #expect(submitted.status == 0, "\(submitted.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: office).status == 0)
    #expect(try await Tool.run("orgsync", ["edit", id, "--body", "补充走访情况"], home: laptop).status == 0)
    let synced = try await Tool.run("orgsync", ["sync"], home: laptop)
    #expect(synced.status == 68, "\(synced.out) \(synced.err)")
    #expect(synced.out.contains("REFUSED"))
    let listed = try await Tool.run("orgsync", ["rejected"], home: laptop)
    #expect(listed.out.contains("body=补充走访情况"), "\(listed.out)")
    let shown = try await Tool.run("orgsync", ["rejected", "show", String(id.suffix(8))], home: laptop)
    #expect(shown.out.contains("--body 补充走访情况"), "\(shown.out) \(shown.err)")
    let discarded = try await Tool.run("orgsync", ["rejected", "discard", String(id.suffix(8))], home: laptop)
    #expect(discarded.status == 0, "\(discarded.err)")
    let status = try await Tool.run("orgsync", ["status", "--json"], home: laptop)
    #expect(status.out.contains("\"refused\" : 0"), "\(status.out)")
  }
}

@Suite("Long text, end to end")
struct LongTextCLITests {
  @Test("a 50,000-character report body comes from a file and reaches the server whole")
  func bodyFromFile() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await enrolledBranch(daemon)
    let text = String(repeating: "本季度走访群众，收集意见，办结实事。", count: 2800)  // 50,400 characters
    let file = daemon.folder.appendingPathComponent("body.txt")
    try Data(("\u{FEFF}" + text).utf8).write(to: file)
    let added = try await Tool.run(
      "orgsync",
      [
        "add", "report", "--year", "2026", "--period", "q3", "--kind", "quarterly-check", "--title", "第三季度总结",
        "--status", "draft", "--body-file", file.path,
      ], home: home)
    #expect(added.status == 0, "\(added.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    let exported = try await Tool.run("orgsync", ["export", "--type", "report"], home: home)
    #expect(exported.out.contains(text), "the body arrived whole, without the BOM")
    let missing = try await Tool.run(
      "orgsync", ["add", "report", "--title", "x", "--body-file", "/nonexistent/body.txt"], home: home)
    #expect(missing.status == 65)
    #expect(missing.err.contains("cannot read the file"), "\(missing.err)")
  }
}

@Suite("Short ids, end to end")
struct ShortIDCLITests {
  @Test("a reference field takes the short id a table shows; an ambiguous or unknown one is refused clearly")
  func shortReferences() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await enrolledBranch(daemon)
    let opinion = try await Tool.run(
      "orgsync",
      [
        "add", "opinion", "--source", "visit", "--category", "livelihood", "--date", "2026-09-18", "--content",
        "村口缺路灯",
      ], home: home)
    #expect(opinion.status == 0, "\(opinion.err)")
    let id = try #require(opinion.out.split(separator: " ").dropFirst(2).first.map(String.init))
    let problem = try await Tool.run(
      "orgsync",
      [
        "add", "problem", "--category", "livelihood", "--title", "路灯", "--identified-on", "2026-09-20",
        "--status", "open", "--opinion-ids", String(id.suffix(8)),
      ], home: home)
    #expect(problem.status == 0, "\(problem.err)")
    let exported = try await Tool.run("orgsync", ["export", "--type", "problem"], home: home)
    #expect(exported.out.contains(id), "the problem names the opinion by its full id: \(exported.out)")
    let unknown = try await Tool.run(
      "orgsync",
      [
        "add", "problem", "--category", "livelihood", "--title", "x", "--identified-on", "2026-09-20",
        "--opinion-ids", "abcdef12",
      ], home: home)
    #expect(unknown.status == 65)
    #expect(unknown.err.contains("--opinion-ids"), "\(unknown.err)")
  }
}

@Suite("CSV for Excel, end to end")
struct ExcelCSVCLITests {
  @Test("--excel, and --csv under a Chinese locale, write UTF-8 with a byte-order mark and CRLF; plain --csv does not")
  func excel() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await enrolledBranch(daemon)
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    let bom = "\u{FEFF}"
    let excel = try await Tool.run("orgsync", ["list", "member", "--excel"], home: home, environment: ["LANG": "C"])
    #expect(excel.out.hasPrefix(bom) && excel.out.contains("\r\n"), "\(excel.out.prefix(80))")
    let chinese = try await Tool.run(
      "orgsync", ["list", "member", "--csv"], home: home, environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": ""])
    #expect(chinese.out.hasPrefix(bom))
    let plain = try await Tool.run(
      "orgsync", ["list", "member", "--csv"], home: home, environment: ["LANG": "C.UTF-8"])
    #expect(!plain.out.hasPrefix(bom) && !plain.out.contains("\r\n"))
    #expect(plain.out.contains("name"))
  }
}

import Foundation
import Testing

/// `orgsyncd serve` as an operator and systemd meet it: a start that cannot serve ends with the
/// reason, and SIGTERM ends the server whatever it is doing.
@Suite("Serving: a failed start fails, SIGTERM always ends it", .timeLimit(.minutes(10)))
struct ServeLifecycleTests {
  @Test("the sync port in use: exit 69 with one line naming the port, the data folder free again")
  func portInUse() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    let (holder, port) = try listeningSocket()
    defer { close(holder) }
    let admin = try freePort()
    let refused = try await Tool.run(
      "orgsyncd",
      ["serve", "--data", daemon.data, "--host", "127.0.0.1", "--port", "\(port)", "--admin-port", "\(admin)"])
    #expect(refused.status == 69, "\(refused.err)")
    #expect(
      refused.err.contains("cannot listen on 127.0.0.1:\(port) for devices: the port is in use"), "\(refused.err)")
    // The folder's lock went with the process: a server on a free port starts and serves.
    try await daemon.start(["--admin-port", "\(admin)"])
    #expect(daemon.port > 0 && daemon.port != port, "\(daemon.log.text)")
    let health = try await httpGet(port: admin, path: "/health")
    #expect(health.hasPrefix("HTTP/1.1 200"), "\(health)")
    #expect(health.contains("sync listener: accepting on"), "\(health)")
    await daemon.stop()
  }

  @Test("the admin port in use: exit 69 naming the admin port, never a server that half serves")
  func adminPortInUse() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    let (holder, admin) = try listeningSocket()
    defer { close(holder) }
    let refused = try await Tool.run(
      "orgsyncd",
      [
        "serve", "--data", daemon.data, "--host", "127.0.0.1", "--port", "\(try freePort())", "--admin-port",
        "\(admin)",
      ]
    )
    #expect(refused.status == 69, "\(refused.err)")
    #expect(refused.err.contains("for the admin port: the port is in use"), "\(refused.err)")
  }

  @Test("an expired server certificate: exit 69 naming it and the fix, never a server that listens and serves no one")
  func expiredCertificate() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    let pem = try PEMAuthority(folder: daemon.folder.appendingPathComponent("pem"), expired: true)
    let refused = try await Tool.run(
      "orgsyncd",
      [
        "serve", "--data", daemon.data, "--host", "127.0.0.1", "--port", "0", "--tls-certificate", pem.certificate,
        "--tls-key", pem.key,
      ])
    #expect(refused.status == 69, "\(refused.err)")
    #expect(
      refused.err.contains("TLS certificate expired on") && refused.err.contains("orgsyncd tls renew"), "\(refused.err)"
    )
  }

  @Test("a port outside 0–65535, or the admin port equal to the sync port: refused before anything starts")
  func portsChecked() async throws {
    for arguments in [["--port", "70000"], ["--port", "7443", "--admin-port", "7443"], ["--admin-port", "65536"]] {
      let refused = try await Tool.run("orgsyncd", ["serve", "--data", "/nonexistent"] + arguments)
      #expect(refused.status == 64, "\(arguments): \(refused.err)")
      #expect(refused.err.contains("port"), "\(refused.err)")
    }
  }

  @Test("SIGTERM at random moments from the first millisecond of start: the server always ends, cleanly")
  func sigtermAtAnyMoment() async throws {
    let daemon = try await Daemon(townships: 1, villages: 2, members: 3)
    var generator = SystemRandomNumberGenerator()
    // Moments spread over a start and its first second of serving; the first few at once.
    let delays = [0, 1, 3, 10] + (0..<8).map { _ in Int.random(in: 0...1500, using: &generator) }
    for delay in delays {
      let process = Process()
      process.executableURL = Tool.folder.appendingPathComponent("orgsyncd")
      process.arguments = [
        "serve", "--data", daemon.data, "--host", "127.0.0.1", "--port", "0", "--grace-period", "3",
      ]
      process.standardOutput = FileHandle.nullDevice
      process.standardError = FileHandle.nullDevice
      try Tool.spawn(process)
      if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
      kill(process.processIdentifier, SIGTERM)
      try await offPool { process.waitUntilExit() }
      // Ended by the signal itself (before the server took it over) or by the server: 0.
      let cleanly =
        (process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM)
        || (process.terminationReason == .exit && process.terminationStatus == 0)
      #expect(cleanly, "SIGTERM after \(delay) ms: \(process.terminationReason) \(process.terminationStatus)")
    }
    // Nothing was left holding the data folder.
    try await daemon.start()
    #expect(daemon.port > 0, "\(daemon.log.text)")
    await daemon.stop()
  }
}

/// A socket listening on 127.0.0.1 (another program holding a port); close it when done.
func listeningSocket() throws -> (Int32, Int) {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
  }
  #expect(bound == 0)
  #expect(listen(fd, 16) == 0)
  _ = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
  }
  return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

@Suite("An impostor is not an outage", .timeLimit(.minutes(10)))
struct ImpostorTests {
  @Test(
    "a PC enrolled with the county, pointed at another county's server: exit 76 and, under zh_CN, the county office named"
  )
  func anotherCountysServer() async throws {
    let county = try await Daemon(townships: 1, villages: 1, members: 2)
    try await county.start()
    let home = try await enrolledBranch(county)
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    await county.stop()
    // Another county's server (its own authority) answers at the same address.
    let other = try await Daemon(townships: 1, villages: 1, members: 2)
    other.port = county.port
    try await other.start()
    let english = try await Tool.run("orgsync", ["sync"], home: home)
    #expect(english.status == 76, "\(english.err)")
    #expect(english.err.contains("not signed by the county's authority"), "\(english.err)")
    #expect(!english.err.contains("check the network"))
    let chinese = try await Tool.run("orgsync", ["sync"], home: home, environment: ["LANG": "zh_CN.UTF-8"])
    #expect(chinese.status == 76)
    #expect(chinese.err.contains("请告诉县委组织部") && chinese.err.contains("不是县里的证书机构签发的"), "\(chinese.err)")
    await other.stop()
  }
}

@Suite("A full disk is a full disk", .timeLimit(.minutes(10)))
struct FullDiskTests {
  @Test(
    "the PC's disk full: exit 73 'disk full' (Chinese under zh_CN), never 'damaged'; recover refuses and changes nothing; once space is freed the member saves and syncs"
  )
  func fullPCDisk() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 3)
    try await daemon.start()
    // A small file system of its own, as root can mount one (the test command runs as root).
    let small = daemon.folder.appendingPathComponent("small")
    try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
    let mounted = try await Tool.runBlockingAsync("/bin/mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", small.path])
    #expect(mounted.isEmpty, "\(mounted)")
    defer {
      let unmount = Process()
      unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
      unmount.arguments = ["-l", small.path]
      try? unmount.run()
      unmount.waitUntilExit()
    }
    let home = small.appendingPathComponent("pc")
    let enrolled = try await Tool.run(
      "orgsync",
      [
        "enroll", "--server", "127.0.0.1:\(daemon.port)", "--code",
        try await daemon.code(unit: "430521-100-001", role: "branch"),
      ],
      home: home)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    // Fill what is left.
    let filler = small.appendingPathComponent("filler").path
    _ = try await Tool.runBlockingAsync("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
    var refused: Tool.Result?
    for attempt in 0..<20 {
      let added = try await Tool.run(
        "orgsync", ["add", "member", "--name", "满盘\(attempt)", "--status", "full"], home: home,
        environment: ["LANG": "zh_CN.UTF-8"])
      if added.status != 0 {
        refused = added
        break
      }
    }
    let full = try #require(refused, "a full disk refuses some write")
    #expect(full.status == 73, "\(full.err)")
    #expect(full.err.contains("磁盘已满") && full.err.contains("没有丢失"), "\(full.err)")
    #expect(!full.err.contains("损坏了"), "not called damaged")
    let recover = try await Tool.run("orgsync", ["recover", "--force"], home: home)
    #expect(recover.status == 73, "recover refuses on a full disk: \(recover.err)")
    let files = try FileManager.default.contentsOfDirectory(atPath: home.path)
    #expect(!files.contains { $0.contains("damaged") }, "nothing set aside: \(files)")
    // Space freed: still enrolled, and the secretary's next member saves and reaches the server.
    try FileManager.default.removeItem(atPath: filler)
    #expect(try await Tool.run("orgsync", ["status"], home: home).status == 0, "still enrolled, nothing rebuilt")
    let added = try await Tool.run("orgsync", ["add", "member", "--name", "腾出空间后", "--status", "full"], home: home)
    #expect(added.status == 0, "\(added.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    let other = try await enrolledBranch(daemon, "office")
    #expect(try await Tool.run("orgsync", ["sync"], home: other).status == 0)
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: other)
    #expect(listed.out.contains("腾出空间后"), "the member typed after freeing space reached the server")
    await daemon.stop()
  }
}

// Initial sync of a county replica from a local server, in two processes:
//
//   sync-bench server <port> <folder>   load the sample county, enrol a county device, serve
//   sync-bench client <port> <folder>   sync into an empty replica; records/s, peak RSS, no-op sync
//   sync-bench attack <port> <folder> <server-pid>
//                                       a village's no-op sync latency and the server's RSS, quiet
//                                       and while the county device runs 10 (or 4) connections ×
//                                       100 full-scope pulls (read, or stalled after one page)
//
// Scripts/bench-sync.sh runs the first two, Scripts/bench-attack.sh the first and the third.
import Foundation
import OrgSyncAPI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncSample
import OrgSyncServer
import OrgSyncStore
import Synchronization

func elapsed(since start: ContinuousClock.Instant) -> Double {
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Peak resident memory of this process, from the kernel (VmHWM), in MiB.
func peakRSS() -> Double {
  let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
  let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
  let kib = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
  return kib / 1024
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
func unhex(_ text: Substring) -> [UInt8] {
  var out: [UInt8] = []
  var index = text.startIndex
  while index < text.endIndex {
    let next = text.index(index, offsetBy: 2)
    out.append(UInt8(text[index..<next], radix: 16)!)
    index = next
  }
  return out
}

let arguments = CommandLine.arguments
let port = Int(arguments[2])!
let folder = URL(fileURLWithPath: arguments[3])

if arguments[1] == "server" {
  let store = try SQLiteStore(path: folder.appendingPathComponent("server.sqlite").path)
  let sample = SampleCounty()
  _ = try await store.importUnits(sample.units)
  let admin = Actor(deviceID: Array("bench-admin".utf8), unitID: sample.countyID, role: .admin)
  for start in stride(from: 0, to: sample.records.count, by: 1000) {
    _ = try await store.push(Array(sample.records[start..<min(start + 1000, sample.records.count)]), actor: admin)
  }
  let villageCode = try await store.makeEnrollmentCode(
    unitID: sample.villageIDs[0], role: .branch, validSeconds: 3600)
  let village = try await store.enroll(code: villageCode, deviceName: "村党支部")
  try "\(hex(Array(village.deviceID))) \(hex(Array(village.secret))) \(hex(Array(village.unitID)))\n"
    .write(to: folder.appendingPathComponent("identity-village"), atomically: true, encoding: .utf8)
  let code = try await store.makeEnrollmentCode(unitID: sample.countyID, role: .committee, validSeconds: 3600)
  let device = try await store.enroll(code: code, deviceName: "县委组织部")
  try "\(hex(Array(device.deviceID))) \(hex(Array(device.secret))) \(hex(Array(device.unitID)))\n"
    .write(to: folder.appendingPathComponent("identity"), atomically: true, encoding: .utf8)
  // As `orgsyncd serve` sets it up: devices take turns at the store.
  let shared = FairShareStore(store)
  let server = RPCServer(
    configuration: .init(host: "127.0.0.1", port: port, authenticator: DeviceAuthenticator(store: shared)),
    services: [SyncService(store: shared)])
  try await server.run()
} else if arguments[1] == "attack" {
  try await attack(serverPID: Int32(arguments[4])!)
} else if arguments[1] == "attacker" {
  try await runAttacker(connections: Int(arguments[4])!, stall: arguments[5] == "stall")
} else {
  let parts = try String(contentsOf: folder.appendingPathComponent("identity"), encoding: .utf8)
    .split(whereSeparator: { $0 == " " || $0 == "\n" })
  let identity = ClientIdentity(deviceID: unhex(parts[0]), secret: unhex(parts[1]))
  let replicaPath = folder.appendingPathComponent("replica.sqlite").path
  let replica = try Replica(path: replicaPath, key: .random())
  let client = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, identity: identity))
  var engine = SyncEngine(replica: replica, client: client)
  engine.pageSize = Int(ProcessInfo.processInfo.environment["PAGE_SIZE"] ?? "1000")!
  let before = peakRSS()
  let start = ContinuousClock.now
  let report = try await engine.sync()
  let seconds = elapsed(since: start)
  print(
    String(
      format: "initial sync: %d records in %.2f s = %.0f records/s, %d pages of %d; peak RSS %.1f MiB (%.1f before)",
      report.pulled, seconds, Double(report.pulled) / seconds, report.pages, engine.pageSize, peakRSS(), before))
  let calls = client.callsStarted
  let runs = 100
  let noop = ContinuousClock.now
  for _ in 0..<runs { _ = try await engine.sync() }
  print(
    String(
      format: "no-op sync: %d round trip(s), %.2f ms each (mean of %d)", (client.callsStarted - calls) / runs,
      elapsed(since: noop) * 1000 / Double(runs), runs))
  await client.close()
}

// MARK: The attack

func identity(_ name: String) throws -> ClientIdentity {
  let parts = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    .split(whereSeparator: { $0 == " " || $0 == "\n" })
  return ClientIdentity(deviceID: unhex(parts[0]), secret: unhex(parts[1]))
}

/// Resident memory of a process (VmRSS), in MiB.
func rss(of pid: Int32) -> Double {
  let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
  let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
  return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

struct Latencies {
  var open: [Double] = []
  var fresh: [Double] = []
  /// Where a sync's time goes: a call with no store work, and the pull call alone.
  var whoAmI: [Double] = []
  var pull: [Double] = []
  /// One fsynced write to the village's own replica (no server involved).
  var localWrite: [Double] = []

  static func summary(_ values: [Double]) -> String {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return "none" }
    let median = sorted[sorted.count / 2]
    let p95 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.95))]
    return String(format: "median %.1f ms, p95 %.1f ms, max %.1f ms (n=%d)", median, p95, sorted.last!, sorted.count)
  }
}

/// A village's no-op syncs: `runs` on its open connection, then `fresh` each on a new connection
/// (few: a device may open 10 connections at once, then one every 6 s).
func villageSyncs(_ engine: SyncEngine, runs: Int, fresh: Int = 3) async throws -> Latencies {
  var latencies = Latencies()
  var engine = engine
  for _ in 0..<runs {
    let start = ContinuousClock.now
    _ = try await engine.sync()
    latencies.open.append(elapsed(since: start) * 1000)
    let call = ContinuousClock.now
    _ = try await engine.client.unary(SyncAPI.whoAmI, Orgsync_V1_WhoAmIRequest())
    latencies.whoAmI.append(elapsed(since: call) * 1000)
    var request = Orgsync_V1_PullRequest()
    request.cursor = Data(try engine.replica.cursor())
    let pull = ContinuousClock.now
    try await engine.client.serverStreaming(SyncAPI.pull, request) { pages in for try await _ in pages {} }
    latencies.pull.append(elapsed(since: pull) * 1000)
    let write = ContinuousClock.now
    try await engine.replica.blocking { try $0.markSynced(at: Int64(Date().timeIntervalSince1970 * 1000)) }
    latencies.localWrite.append(elapsed(since: write) * 1000)
  }
  for _ in 0..<fresh {
    let client = try RPCClient(
      configuration: .init(
        host: "127.0.0.1", port: port, identity: try identity("identity-village"),
        connectTimeout: .seconds(120)))
    var fresh = SyncEngine(replica: engine.replica, client: client)
    let start = ContinuousClock.now
    _ = try await fresh.sync()
    latencies.fresh.append(elapsed(since: start) * 1000)
    await client.close()
  }
  return latencies
}

final class Sampler: Sendable {
  let firstError = Mutex<String?>(nil)
  let peak = Mutex<Double>(0)
  let pulled = Atomic<Int>(0)
  let failed = Atomic<Int>(0)
}

func attack(serverPID: Int32) async throws {
  let replica = try Replica(path: folder.appendingPathComponent("village-\(getpid()).sqlite").path, key: .random())
  let villageClient = try RPCClient(
    configuration: .init(
      host: "127.0.0.1", port: port, identity: try identity("identity-village"),
      connectTimeout: .seconds(120)))
  let engine = SyncEngine(replica: replica, client: villageClient)
  var first = engine
  _ = try await first.sync()
  _ = try await villageSyncs(engine, runs: 10, fresh: 0)  // warm up
  // Server, attacker and village share this machine's cores; in the field the village office
  // syncs from a PC of its own. VILLAGE_NICE (e.g. -10) gives the village process that PC's
  // head start: its own work never waits behind the server's and the attacker's, so what is
  // left of its latency is the server's fairness. 0: all equal, the harsher reading.
  if let nice = ProcessInfo.processInfo.environment["VILLAGE_NICE"].flatMap({ Int32($0) }) {
    guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0 else {
      fatalError("cannot set the village's priority to \(nice) (needs root for a negative value)")
    }
  }
  print("village process at nice \(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))")
  let quietRSS = rss(of: serverPID)
  let quiet = try await villageSyncs(engine, runs: 50)
  print(String(format: "quiet: server RSS %.1f MiB", quietRSS))
  print("  no-op sync, open connection: \(Latencies.summary(quiet.open))")
  print(
    "    of which: the pull call \(Latencies.summary(quiet.pull)); a call with no store work \(Latencies.summary(quiet.whoAmI)); one fsynced write on the village PC \(Latencies.summary(quiet.localWrite))"
  )
  print("  no-op sync, new connection:  \(Latencies.summary(quiet.fresh))")

  let modes = [
    (10, false, "10 connections × 100 pulls, read at full speed"),
    (10, true, "10 connections × 100 pulls, stalled after one page"),
    (4, false, "4 connections (the per-device cap) × 100 pulls, read at full speed"),
  ]
  // The attacker is a process of its own, at the priority ATTACKER_NICE gives it (0: the same
  // as everyone). On this one machine its own page decoding takes CPU the server and the village
  // also need; at nice 19 it runs in what they leave, as if it sat on another computer.
  let nice = ProcessInfo.processInfo.environment["ATTACKER_NICE"] ?? "0"
  print("attacker process at nice \(nice)")
  for (connections, stall, mode) in modes {
    let sampler = Sampler()
    sampler.peak.withLock { $0 = rss(of: serverPID) }
    let stats = folder.appendingPathComponent("attacker-stats")
    try? FileManager.default.removeItem(at: stats)
    let attacker = Process()
    attacker.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
    attacker.arguments = [
      "-n", nice, CommandLine.arguments[0], "attacker", "\(port)", folder.path, "\(connections)",
      stall ? "stall" : "read",
    ]
    try attacker.run()
    let sampling = Task {
      while !Task.isCancelled {
        let now = rss(of: serverPID)
        sampler.peak.withLock { $0 = max($0, now) }
        try? await Task.sleep(for: .milliseconds(200))
      }
    }
    try await Task.sleep(for: .seconds(5))  // let the attack ramp up
    let cpuBefore = (server: cpuSeconds(of: serverPID), attacker: cpuSeconds(of: attacker.processIdentifier))
    let measuring = ContinuousClock.now
    let loaded = try await villageSyncs(engine, runs: 50)
    let wall = elapsed(since: measuring)
    let cpuAfter = (server: cpuSeconds(of: serverPID), attacker: cpuSeconds(of: attacker.processIdentifier))
    let during = rss(of: serverPID)
    attacker.terminate()
    attacker.waitUntilExit()
    sampling.cancel()
    _ = await sampling.value
    try await Task.sleep(for: .seconds(2))
    let peak = sampler.peak.withLock { $0 }
    let counts = (try? String(contentsOf: stats, encoding: .utf8)) ?? "? ? none"
    print(
      String(
        format: "under attack (%@): server RSS %.1f MiB at the end, peak %.1f MiB (+%.1f over quiet), %.1f MiB after",
        mode, during, peak, peak - quietRSS, rss(of: serverPID)))
    print("  attacker (pulled, failed calls, first error): \(counts.trimmingCharacters(in: .whitespacesAndNewlines))")
    print(
      String(
        format:
          "  CPU while the village synced (%.1f s): server %.0f%%, attacker process %.0f%% (of one core; 2 cores in all)",
        wall, 100 * (cpuAfter.server - cpuBefore.server) / wall, 100 * (cpuAfter.attacker - cpuBefore.attacker) / wall))
    print("  no-op sync, open connection: \(Latencies.summary(loaded.open))")
    print(
      "    of which: the pull call \(Latencies.summary(loaded.pull)); a call with no store work \(Latencies.summary(loaded.whoAmI)); one fsynced write on the village PC \(Latencies.summary(loaded.localWrite))"
    )
    print("  no-op sync, new connection:  \(Latencies.summary(loaded.fresh))")
  }
  await villageClient.close()
}

/// The county device's attack, until this process is terminated; its counts go to
/// `attacker-stats` twice a second.
func runAttacker(connections: Int, stall: Bool) async throws {
  let sampler = Sampler()
  let county = try identity("identity")
  var limits = ConnectionLimits.defaults
  limits.initialWindow = Int(Int32.max)  // asks for the largest window the wire can carry
  let attackers = try (0..<connections).map { _ in
    try RPCClient(
      configuration: .init(
        host: "127.0.0.1", port: port, identity: county, connectTimeout: .seconds(120), limits: limits))
  }
  let stats = folder.appendingPathComponent("attacker-stats")
  Task {
    while true {
      let line =
        "\(sampler.pulled.load(ordering: .relaxed)) \(sampler.failed.load(ordering: .relaxed)) \(sampler.firstError.withLock { $0 } ?? "none")\n"
      try? line.write(to: stats, atomically: true, encoding: .utf8)
      try? await Task.sleep(for: .milliseconds(500))
    }
  }
  await withTaskGroup(of: Void.self) { group in
    for client in attackers {
      for _ in 0..<100 {
        group.addTask {
          while true {
            var request = Orgsync_V1_PullRequest()
            request.pageSize = 2000
            do {
              try await client.serverStreaming(SyncAPI.pull, request) { pages in
                for try await page in pages {
                  sampler.pulled.add(page.changes.count, ordering: .relaxed)
                  if stall { try await Task.sleep(for: .seconds(3600)) }
                }
              }
            } catch {
              sampler.firstError.withLock { $0 = $0 ?? "\(error)" }
              sampler.failed.add(1, ordering: .relaxed)
              try? await Task.sleep(for: .milliseconds(100))
            }
          }
        }
      }
    }
  }
}

/// User plus system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s).
func cpuSeconds(of pid: Int32) -> Double {
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let close = stat.lastIndex(of: ")")
  else { return 0 }
  let fields = stat[stat.index(after: close)...].split(separator: " ")
  // After the name: state is field 3, utime 14, stime 15 (1-based over the whole line).
  guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
  return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

// Initial sync of a county replica from a local server, in two processes:
//
//   sync-bench server <port> <folder>   load the sample county, enrol a county device, serve
//   sync-bench client <port> <folder>   sync into an empty replica; records/s, peak RSS, no-op sync
//
// Scripts/bench-sync.sh runs both.
import Foundation
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncSample
import OrgSyncServer
import OrgSyncStore

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
  let code = try await store.makeEnrollmentCode(unitID: sample.countyID, role: .committee, validSeconds: 3600)
  let device = try await store.enroll(code: code, deviceName: "縣委組織部")
  try "\(hex(Array(device.deviceID))) \(hex(Array(device.secret))) \(hex(Array(device.unitID)))\n"
    .write(to: folder.appendingPathComponent("identity"), atomically: true, encoding: .utf8)
  let server = RPCServer(
    configuration: .init(host: "127.0.0.1", port: port, authenticator: DeviceAuthenticator(store: store)),
    services: [SyncService(store: store)])
  try await server.run()
} else {
  let parts = try String(contentsOf: folder.appendingPathComponent("identity"), encoding: .utf8)
    .split(whereSeparator: { $0 == " " || $0 == "\n" })
  let identity = ClientIdentity(deviceID: unhex(parts[0]), secret: unhex(parts[1]))
  let replicaPath = folder.appendingPathComponent("replica.sqlite").path
  let replica = try Replica(path: replicaPath)
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

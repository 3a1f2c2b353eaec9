// Roll-up on the server, over a SQLite file or a PostgreSQL database:
//
//   rollup-bench county [postgres://…]     the sample county (501 units, ~19,000 members, a year of activity)
//   rollup-bench province [postgres://…]   ~50,000 units and ~1.9 million members (units and members only)
import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncSample
import OrgSyncStore

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
  let start = ContinuousClock.now
  try await body()
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

let province = CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "province"
var options = SampleCounty.Options()
if province {
  options.townships = 2000
  options.villagesPerTownship = 24
  options.membersPerVillage = 40
  options.activity = false
}
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-rollup-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let postgres = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
let store: any SQLRecordStore =
  if let postgres {
    try await PostgresStore(
      url: postgres + (postgres.contains("?") ? "&" : "?") + "schema=rollup_\(UInt32.random(in: 0...UInt32.max))")
  } else {
    try SQLiteStore(path: folder.appendingPathComponent("server.sqlite").path)
  }
print("store: \(postgres == nil ? "SQLite" : "PostgreSQL")")
let sample = SampleCounty(options: options)
let load = try await seconds {
  _ = try await store.importUnits(sample.units)
  let admin = Actor(deviceID: Array("bench".utf8), unitID: sample.countyID, role: .admin)
  for start in stride(from: 0, to: sample.records.count, by: 5000) {
    _ = try await store.push(Array(sample.records[start..<min(start + 5000, sample.records.count)]), actor: admin)
  }
}
let members = sample.records.filter { $0.type == .member }.count
print(
  String(
    format: "%@: %d units, %d members, %d records in all (loaded in %.0f s)", province ? "province" : "county",
    sample.units.count, members, sample.records.count, load))
let committee = Actor(deviceID: Array("bench-committee".utf8), unitID: sample.countyID, role: .committee)
var request = Orgsync_V1_RollUpRequest()
request.year = 2026
request.period = .q3
var times: [Double] = []
var rollUp = Orgsync_V1_RollUp()
for _ in 0..<(province ? 3 : 20) {
  times.append(try await seconds { rollUp = try await store.rollUp(actor: committee, request: request) })
}
times.sort()
print(
  String(
    format: "roll-up of %d members in %d rows: median %.1f ms, best %.1f ms (%d runs)", rollUp.total.members,
    rollUp.rows.count, times[times.count / 2] * 1000, times[0] * 1000, times.count))
if let postgres = store as? PostgresStore { try await postgres.close() }

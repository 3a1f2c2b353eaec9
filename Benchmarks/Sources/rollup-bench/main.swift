// Roll-up on the server, over a SQLite file or a PostgreSQL database:
//
//   rollup-bench county [postgres://…]     the sample county (501 units, ~19,000 members, a year of activity)
//   rollup-bench province [postgres://…]   50 such counties under a province: 50,051 units, ~1.9 million
//                                          members, ~7 million records (a year of activity)
//
// For each: the roll-up from kept shares (`rollUp`) — cold (every share computed and kept),
// warm, and after edits in a few villages — against the full recomputation (`recomputedRollUp`),
// and whether the two are equal.
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

func median(_ times: [Double]) -> String {
  let sorted = times.sorted()
  return String(
    format: "median %.1f ms, best %.1f ms (%d runs)", sorted[sorted.count / 2] * 1000, sorted[0] * 1000, times.count)
}

let province = CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "province"
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-rollup-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let postgres = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
// ROLLUP_BENCH_DB names a SQLite file kept between runs: loaded once, then reused (the tree is
// generated again from the same seeds for its ids, not pushed).
let keptFile = ProcessInfo.processInfo.environment["ROLLUP_BENCH_DB"]
let reuse = keptFile.map { FileManager.default.fileExists(atPath: $0) } ?? false
let store: any SQLRecordStore =
  if let postgres {
    try await PostgresStore(
      url: postgres + (postgres.contains("?") ? "&" : "?") + "schema=rollup_\(UInt32.random(in: 0...UInt32.max))")
  } else {
    try SQLiteStore(path: keptFile ?? folder.appendingPathComponent("server.sqlite").path)
  }
print("store: \(postgres == nil ? "SQLite" : "PostgreSQL")")

// The tree: one sample county, or 50 of them (other seeds, other codes) under a province.
let provinceID = Array(repeating: UInt8(0x43), count: 16)
var rootID: [UInt8] = []
var countyIDs: [[UInt8]] = []
var villages: [[UInt8]] = []
var (unitCount, memberCount, recordCount) = (0, 0, 0)
let load = try await seconds {
  if province {
    var unit = Orgsync_V1_OrgUnit()
    unit.code = "43"
    unit.name = "中共湖南省委员会"
    unit.level = .province
    unit.kind = .committee
    if !reuse { _ = try await store.importUnits([(provinceID, unit)]) }
    rootID = provinceID
    unitCount = 1
  }
  for county in 0..<(province ? 50 : 1) {
    var options = SampleCounty.Options()
    options.seed = 2026 + UInt64(county)
    if province { options.townships = 40 }
    let sample = SampleCounty(options: options)
    var units = sample.units
    if province {
      let code = String(format: "43%02d%02d", county / 10 + 1, county % 10 + 21)
      for i in units.indices { units[i].unit.code = code + units[i].unit.code.dropFirst(6) }
      units[0].unit.parentID = Data(provinceID)
    } else {
      rootID = sample.countyID
    }
    if !reuse {
      _ = try await store.importUnits(units)
      let admin = Actor(deviceID: Array("bench".utf8), unitID: sample.countyID, role: .admin)
      for start in stride(from: 0, to: sample.records.count, by: 5000) {
        _ = try await store.push(Array(sample.records[start..<min(start + 5000, sample.records.count)]), actor: admin)
      }
    }
    countyIDs.append(sample.countyID)
    villages += sample.villageIDs
    unitCount += units.count
    memberCount += sample.records.filter { $0.type == .member }.count
    recordCount += sample.records.count
  }
}
print(
  String(
    format: "%@: %d units, %d members, %d records in all (%@ in %.0f s)", province ? "province" : "county",
    unitCount, memberCount, recordCount, reuse ? "generated again" : "loaded", load))

let committee = Actor(deviceID: Array("bench-committee".utf8), unitID: rootID, role: .committee)
let admin = Actor(deviceID: Array("bench".utf8), unitID: rootID, role: .admin)
var request = Orgsync_V1_RollUpRequest()
request.year = 2026
request.period = .q3
var rollUp = Orgsync_V1_RollUp()
let cold = try await seconds { rollUp = try await store.rollUp(actor: committee, request: request) }
print(
  String(
    format: "kept, cold (every share computed and kept): %.1f ms; %d members in %d rows", cold * 1000,
    rollUp.total.members, rollUp.rows.count))
var warm: [Double] = []
let warmRuns = Int(ProcessInfo.processInfo.environment["ROLLUP_BENCH_WARM_RUNS"] ?? "") ?? 20
for _ in 0..<warmRuns {
  warm.append(try await seconds { rollUp = try await store.rollUp(actor: committee, request: request) })
}
print("kept, warm: \(median(warm))")

// A few villages write (an opinion each), then the roll-up: those villages' shares are read again.
var rng = SplitMix64(seed: 7)
var afterEdits: [Double] = []
for _ in 0..<10 {
  var mutations: [Orgsync_V1_Mutation] = []
  for _ in 0..<10 {
    var opinion = Orgsync_V1_Opinion()
    opinion.source = .visit
    opinion.content = "村道年久失修，雨天泥泞难行。"
    opinion.date = CalendarDate.make(2026, 8, 3)
    opinion.category = .livelihood
    var m = Orgsync_V1_Mutation()
    m.mutationID = Data(RecordID.make())
    m.recordID = Data(RecordID.make())
    m.type = .opinion
    m.unitID = Data(villages[Int(rng.next() % UInt64(villages.count))])
    m.body.opinion = opinion
    m.hlc = HybridClock().now()
    mutations.append(m)
  }
  _ = try await store.push(mutations, actor: admin)
  afterEdits.append(try await seconds { rollUp = try await store.rollUp(actor: committee, request: request) })
}
print("kept, after 10 villages' writes: \(median(afterEdits))")

var sub = request
sub.unitID = Data(countyIDs[countyIDs.count / 2])
_ = try await store.rollUp(actor: committee, request: sub)
var countyTimes: [Double] = []
if province {
  for _ in 0..<20 {
    countyTimes.append(try await seconds { _ = try await store.rollUp(actor: committee, request: sub) })
  }
  print("kept, warm, one county of the province: \(median(countyTimes))")
}

var full = Orgsync_V1_RollUp()
var recomputed: [Double] = []
for _ in 0..<(province ? 3 : 10) {
  recomputed.append(try await seconds { full = try await store.recomputedRollUp(actor: committee, request: request) })
}
print("recomputed from every record: \(median(recomputed))")
let kept = try await store.rollUp(actor: committee, request: request)
print("kept equals recomputed: \(kept == full ? "yes" : "NO")")
if let postgres = store as? PostgresStore { try await postgres.close() }

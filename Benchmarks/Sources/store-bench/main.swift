// Server-side store benchmark on a generated county (~500 units, ~20,000 members, ~50,000
// other records), in a SQLite file in a temporary folder or a PostgreSQL database:
//
//   store-bench [other-changes] [postgres://…]      default 1,000,000; SQLite without a URL
//
// 1. push: the county's records as mutations in batches of 500 — mutations/s;
// 2. edits: each village's branch device edits its members (a phone number and an occupation), 100 per
//    batch — merge against the stored version, rights and state checks, as a village's sync does;
// 3. concurrent edits (PostgreSQL): the same, 16 branch devices at once through one store, then
//    through two stores (two servers' connection pools) on the same database;
// 4. pull: the county committee's whole scope, pages of 1,000 — records/s;
// 5. a branch's pull: full and incremental, before and after `other-changes` changes land in
//    other units — to show a pull's cost follows its own scope, not the size of the log.
import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncSample
import OrgSyncStore

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
  let start = ContinuousClock.now
  try await body()
  let elapsed = ContinuousClock.now - start
  return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func pullAll(_ store: any SQLRecordStore, _ actor: Actor, from cursor: [UInt8] = [], pageSize: Int = 1000) async throws
  -> (count: Int, cursor: [UInt8])
{
  var cursor = cursor
  var count = 0
  while true {
    let page = try await store.pull(actor: actor, cursor: cursor, pageSize: pageSize)
    count += page.changes.count
    cursor = Array(page.cursor)
    if !page.more { return (count, cursor) }
  }
}

let otherChanges = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 1_000_000
let postgres = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : nil
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-bench-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let schema = "bench_\(UInt32.random(in: 0...UInt32.max))"
func postgresURL(_ base: String) -> String { base + (base.contains("?") ? "&" : "?") + "schema=\(schema)" }
let store: any SQLRecordStore =
  if let postgres {
    try await PostgresStore(url: postgresURL(postgres), options: .init(connections: 8))
  } else {
    try SQLiteStore(path: folder.appendingPathComponent("server.sqlite").path)
  }
print("store: \(postgres == nil ? "SQLite (file, synchronous = FULL)" : "PostgreSQL (fsync on)")")

let sample = SampleCounty()
let units = try await store.importUnits(sample.units)
precondition(units.allSatisfy { $0.outcome == .applied })
let admin = Actor(deviceID: Array("bench-admin".utf8), unitID: sample.countyID, role: .admin)
let members = sample.records.filter { $0.type == .member }.count
print("county: \(sample.units.count) units, \(members) members, \(sample.records.count - members) other records")

var rejected = 0
let pushTime = try await seconds {
  for start in stride(from: 0, to: sample.records.count, by: 500) {
    let batch = Array(sample.records[start..<min(start + 500, sample.records.count)])
    let results = try await store.push(batch, actor: admin)
    for result in results where result.outcome == .rejected {
      rejected += 1
      if rejected <= 5 { print("rejected: \(result.field): \(result.reason)") }
    }
  }
}
print(
  String(
    format: "push: %d mutations in %.2f s = %.0f mutations/s (%d rejected)", sample.records.count, pushTime,
    Double(sample.records.count) / pushTime, rejected))

// Branch devices edit their own members: the path every village's sync takes.
let membersByVillage = Dictionary(grouping: sample.records.filter { $0.type == .member }) { Data($0.unitID) }
  .filter { sample.villageIDs.contains(Array($0.key)) }
func edits(round: Int) -> [(Actor, [Orgsync_V1_Mutation])] {
  membersByVillage.map { unit, records in
    let actor = Actor(deviceID: Array("bench-\(unit.hexPrefix)".utf8), unitID: Array(unit), role: .branch)
    let mutations = records.prefix(100).map { record -> Orgsync_V1_Mutation in
      var m = Orgsync_V1_Mutation()
      m.mutationID = Data(RecordID.make())
      m.recordID = record.recordID
      m.type = .member
      m.unitID = record.unitID
      m.baseVersion = Int64(round)
      var body = record.body
      body.member.phone = "1390739\(String(format: "%04d", (round * 7919) % 10_000))"
      body.member.occupation = "种植户（第\(round)次核对）"
      m.body = body
      m.fields = ["phone", "occupation"]
      m.hlc = UInt64(round + 1) << 20
      return m
    }
    return (actor, mutations)
  }
}
var editCount = 0
var editRejected = 0
let editTime = try await seconds {
  for (actor, mutations) in edits(round: 1) {
    for result in try await store.push(mutations, actor: actor) {
      editCount += 1
      if result.outcome == .rejected {
        editRejected += 1
        if editRejected <= 3 { print("edit rejected: \(result.field): \(result.reason)") }
      }
    }
  }
}
print(
  String(
    format: "branch edits (one device at a time): %d in %.2f s = %.0f mutations/s (%d rejected)", editCount, editTime,
    Double(editCount) / editTime, editRejected))

if let postgres {
  // 16 branch devices at once, through one store and then through two on the same database.
  let second = try await PostgresStore(url: postgresURL(postgres), options: .init(connections: 8))
  for (label, stores, round) in [("one server", [store], 2), ("two servers", [store, second], 3)] {
    let start = ContinuousClock.now
    let done = try await concurrentEdits(edits(round: round), through: stores)
    let elapsed = ContinuousClock.now - start
    let time = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(
      String(
        format: "branch edits, 16 devices at once, %@: %d in %.2f s = %.0f mutations/s", label, done, time,
        Double(done) / time))
  }
  try await second.close()
}

let committee = Actor(deviceID: Array("bench-county".utf8), unitID: sample.countyID, role: .committee)
var pulled = 0
let pullTime = try await seconds { pulled = try await pullAll(store, committee).count }
print(
  String(
    format: "pull (county scope): %d records in %.2f s = %.0f records/s", pulled, pullTime, Double(pulled) / pullTime))

// A branch: its full pull and a small incremental one, now and after the log grows elsewhere.
let village = sample.villageIDs[0]
let branch = Actor(deviceID: Array("bench-branch".utf8), unitID: village, role: .branch)
func branchPulls(label: String) async throws {
  var head: [UInt8] = []
  var count = 0
  let full = try await seconds { (count, head) = try await pullAll(store, branch) }
  var edits: [Orgsync_V1_Mutation] = []
  for i in 0..<10 {
    var o = Orgsync_V1_Opinion()
    o.source = .visit
    o.content = "新增群众意见 \(label) \(i)"
    o.date = CalendarDate.make(2026, 10, 1)
    o.category = .livelihood
    var m = Orgsync_V1_Mutation()
    m.mutationID = Data(RecordID.make())
    m.recordID = Data(RecordID.make())
    m.type = .opinion
    m.unitID = Data(village)
    m.body = .with { $0.opinion = o }
    m.hlc = 1
    edits.append(m)
  }
  _ = try await store.push(edits, actor: branch)
  var incremental = 0
  let runs = 200
  let small = try await seconds {
    for _ in 0..<runs { incremental = try await pullAll(store, branch, from: head).count }
  }
  print(
    String(
      format: "%@: branch full pull %d records in %.1f ms; incremental pull of %d changes %.3f ms", label, count,
      full * 1000, incremental, small * 1000 / Double(runs)))
}
try await branchPulls(label: "log of \(sample.records.count) changes")

// Grow the log with changes of every other village.
let others = Array(sample.villageIDs.dropFirst())
var made = 0
let growTime = try await seconds {
  while made < otherChanges {
    var batch: [Orgsync_V1_Mutation] = []
    for _ in 0..<min(5000, otherChanges - made) {
      var o = Orgsync_V1_Opinion()
      o.source = .meeting
      o.content = "其他村的群众意见"
      o.date = CalendarDate.make(2026, 9, 1)
      o.category = .economy
      var m = Orgsync_V1_Mutation()
      m.mutationID = Data(RecordID.make())
      m.recordID = Data(RecordID.make())
      m.type = .opinion
      m.unitID = Data(others[made % others.count])
      m.body = .with { $0.opinion = o }
      m.hlc = 1
      batch.append(m)
      made += 1
    }
    _ = try await store.push(batch, actor: admin)
  }
}
print(
  String(
    format: "grew the log by %d changes in other units in %.1f s (%.0f mutations/s)", made, growTime,
    Double(made) / growTime))
try await branchPulls(label: "log of \(sample.records.count + made) changes")

if let postgres = store as? PostgresStore { try await postgres.close() }

/// 16 lanes of branch devices pushing at once, spread over `stores`; returns the edits applied.
func concurrentEdits(_ work: [(Actor, [Orgsync_V1_Mutation])], through stores: [any SQLRecordStore]) async throws
  -> Int
{
  try await withThrowingTaskGroup(of: Int.self) { group in
    for lane in 0..<16 {
      let slice = work.enumerated().filter { $0.offset % 16 == lane }.map(\.element)
      let target = stores[lane % stores.count]
      group.addTask {
        var count = 0
        for (actor, mutations) in slice {
          count += try await target.push(mutations, actor: actor).filter { $0.outcome != .rejected }.count
        }
        return count
      }
    }
    return try await group.reduce(0, +)
  }
}

extension Data {
  var hexPrefix: String { prefix(6).map { String(format: "%02x", $0) }.joined() }
}

import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncTestSupport
import Synchronization
import Testing

@testable import OrgSyncClient

@Suite("Offline client and sync")
struct SyncEngineTests {
  @Test("edits work with no server, and reach the server and the other replicas on sync")
  func offlineThenSync() async throws {
    let server = try await TestServer()
    let taiping = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    await server.stop()

    // Offline: every edit lands locally and in the outbox.
    let member = try taiping.replica.create(memberBody("欧阳修"), unitID: server.taiping)
    let opinion = try taiping.replica.create(opinionBody("路灯坏了三个月"), unitID: server.taiping)
    try taiping.replica.update(Array(member.recordID), fields: ["note"], from: memberBody("欧阳修", note: "老党员"))
    try taiping.replica.delete(Array(opinion.recordID))
    #expect(try taiping.replica.record(id: Array(member.recordID))?.body.member.note == "老党员")
    #expect(try taiping.replica.record(id: Array(opinion.recordID)) == nil)
    #expect(try taiping.replica.status().outbox == 4)
    let down = await #expect(throws: RPCError.self) { try await taiping.engine.sync() }
    #expect(down?.code == .unavailable)
    #expect(try taiping.replica.status().outbox == 4, "a failed sync keeps every edit")

    try await server.start()
    let report = try await taiping.engine.sync()
    #expect(report.pushed == 4)
    #expect(try taiping.replica.status().outbox == 0)
    _ = try await county.engine.sync()
    let seen = try #require(try county.replica.record(id: Array(member.recordID)))
    #expect(seen.body.member.name == member.body.member.name)
    #expect(seen.body.member.note == "", "a note about a person stays with the branch (PersonalData)")
    #expect(try taiping.replica.record(id: Array(member.recordID))?.body.member.note == "老党员")
    #expect(try county.replica.record(id: Array(opinion.recordID)) == nil)
    #expect(try snapshot(taiping.replica) == snapshot(try await server.scope(of: taiping.actor)))
  }

  @Test("a pull cut at random bytes resumes where it stopped and ends equal to the server")
  func interruptedPull() async throws {
    let server = try await TestServer()
    let writer = try await server.device(unit: server.taiping, role: .branch)
    for i in 0..<300 { try writer.replica.create(opinionBody("意见第\(i)条"), unitID: server.taiping) }
    _ = try await writer.engine.sync()

    let proxy = FaultyProxy(upstreamPort: server.port, seed: 7, faults: .init(cut: 1, within: 40_000))
    let proxyPort = try await proxy.start()
    var reader = try await server.device(unit: server.taiping, role: .branch, via: proxyPort, timeout: .seconds(60))
    reader.engine.pageSize = 20
    var attempts = 0
    var cursors: [[UInt8]] = []
    while true {
      attempts += 1
      do {
        _ = try await reader.engine.sync()
        break
      } catch {
        cursors.append(try reader.replica.cursor())
        if attempts > 200 { Issue.record("no progress after 200 attempts"); break }
      }
    }
    #expect(attempts > 1, "the proxy cut at least one attempt")
    #expect(cursors.count >= 1)
    #expect(try snapshot(reader.replica) == snapshot(try await server.scope(of: reader.actor)))
    await proxy.stop()
  }

  @Test("a push whose reply was lost is applied once when sent again")
  func lostReply() async throws {
    let server = try await TestServer()
    let device = try await server.device(unit: server.taiping, role: .branch)
    let m = try device.replica.create(memberBody("苏轼"), unitID: server.taiping)
    // The server received and applied the push, and the answer never came back: the
    // mutation is on the server and still in the device's outbox.
    let first = try await server.store.push([m], actor: device.actor)
    #expect(first.first?.outcome == .applied)
    #expect(try device.replica.status().outbox == 1)
    let report = try await device.engine.sync()
    #expect(report.pushed == 1)
    #expect(try device.replica.status().outbox == 0)
    #expect(try await server.store.changeCount(mutationID: Array(m.mutationID)) == 1)
    #expect(try await server.scope(of: device.actor).values.filter { $0.type == .member }.count == 1)
  }

  @Test("pushes through a link that cuts, corrupts and stalls apply every edit exactly once")
  func faultyPush() async throws {
    let server = try await TestServer()
    let proxy = FaultyProxy(
      upstreamPort: server.port, seed: 21, faults: .init(cut: 0.4, corrupt: 0.2, stall: 0.1, within: 2000))
    let proxyPort = try await proxy.start()
    var device = try await server.device(
      unit: server.taiping, role: .branch, via: proxyPort, timeout: .milliseconds(500))
    device.engine.pushBatch = 3
    var mutations: [Orgsync_V1_Mutation] = []
    for i in 0..<30 { mutations.append(try device.replica.create(opinionBody("第\(i)条"), unitID: server.taiping)) }
    var attempts = 0
    while try device.replica.status().outbox > 0, attempts < 300 {
      attempts += 1
      if (try? await device.engine.sync()) == nil {
        try await Task.sleep(for: .milliseconds(25))  // past the client's reconnect backoff
      }
    }
    #expect(try device.replica.status().outbox == 0)
    #expect(proxy.faultsInjected > 0)
    for m in mutations {
      #expect(try await server.store.changeCount(mutationID: Array(m.mutationID)) == 1)
    }
    await proxy.stop()
  }

  @Test("a rejected edit is set aside with its reason and the rest still applies")
  func rejectedSetAside() async throws {
    let server = try await TestServer()
    let device = try await server.device(unit: server.taiping, role: .branch)
    let good = try device.replica.create(memberBody("辛弃疾"), unitID: server.taiping)
    let bad = try device.replica.create(memberBody("外村人"), unitID: server.xinmin)  // not its subtree
    let after = try device.replica.create(opinionBody("希望增设公交站"), unitID: server.taiping)
    let report = try await device.engine.sync()
    #expect(report.pushed == 2)
    #expect(report.rejected == 1)
    let rejected = try device.replica.rejected()
    #expect(rejected.map(\.mutationID) == [Array(bad.mutationID)])
    #expect(rejected.first?.code == .permission)
    #expect(rejected.first?.reason.isEmpty == false)
    #expect(try device.replica.record(id: Array(bad.recordID)) == nil, "the refused record is gone from the view")
    #expect(try device.replica.record(id: Array(good.recordID)) != nil)
    #expect(try device.replica.record(id: Array(after.recordID)) != nil)
  }

  @Test("a conflict lands in the inbox; keep mine wins it back and the server marks it resolved")
  func conflictInbox() async throws {
    let server = try await TestServer()
    let desk = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let m = try desk.replica.create(memberBody("柳宗元"), unitID: server.taiping)
    _ = try await desk.engine.sync()
    _ = try await laptop.engine.sync()
    let id = Array(m.recordID)
    try laptop.replica.update(id, fields: ["note"], from: memberBody("柳宗元", note: "笔记本写的"))
    try desk.replica.update(id, fields: ["note"], from: memberBody("柳宗元", note: "办公室写的"))
    _ = try await desk.engine.sync()  // later clock, pushed first: it wins
    let report = try await laptop.engine.sync()
    #expect(report.conflicts == 1)
    let conflict = try #require(try laptop.replica.conflicts().first)
    #expect(conflict.fields == ["note"])
    #expect(conflict.winner.member.note == "办公室写的")
    #expect(conflict.loser.member.note == "笔记本写的")
    #expect(try laptop.replica.record(id: id)?.body.member.note == "办公室写的")

    try laptop.replica.resolve(conflictID: Array(conflict.id), .keepMine)
    _ = try await laptop.engine.sync()
    #expect(try laptop.replica.record(id: id)?.body.member.note == "笔记本写的")
    #expect(try laptop.replica.conflicts().isEmpty)
    _ = try await desk.engine.sync()
    #expect(try desk.replica.record(id: id)?.body.member.note == "笔记本写的")
    #expect(try laptop.replica.conflicts(includeResolved: true).first?.status == .resolved)
    #expect(try await server.store.conflicts(actor: desk.actor, includeResolved: false, limit: 10).isEmpty)
  }

  @Test("a sync with nothing to do is one round trip")
  func noOpSync() async throws {
    let server = try await TestServer()
    let device = try await server.device(unit: server.taiping, role: .branch)
    try device.replica.create(memberBody("王维"), unitID: server.taiping)
    _ = try await device.engine.sync()
    let before = device.engine.client.callsStarted
    let report = try await device.engine.sync()
    #expect(device.engine.client.callsStarted - before == 1)
    #expect(report.pulled == 0 && report.pushed == 0)
  }

  @Test("a member moved away leaves the old replica and enters the new one, without a full resync")
  func moves() async throws {
    let server = try await TestServer()
    let taiping = try await server.device(unit: server.taiping, role: .branch)
    let shuangfeng = try await server.device(unit: server.shuangfeng, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let m = try taiping.replica.create(memberBody("范仲淹"), unitID: server.taiping)
    _ = try await taiping.engine.sync()
    _ = try await shuangfeng.engine.sync()
    _ = try await county.engine.sync()
    try county.replica.move(Array(m.recordID), to: server.shuangfeng)
    _ = try await county.engine.sync()
    let left = try await taiping.engine.sync()
    let entered = try await shuangfeng.engine.sync()
    #expect(try taiping.replica.record(id: Array(m.recordID)) == nil)
    #expect(try shuangfeng.replica.record(id: Array(m.recordID))?.unitID == server.shuangfeng)
    #expect(left.pulled <= 2 && entered.pulled <= 2, "only the moved record travels")
    #expect(!left.reset && !entered.reset)
  }

  @Test("verify finds a damaged replica and repairs only what differs")
  func verifyRepairs() async throws {
    let server = try await TestServer()
    let writer = try await server.device(unit: server.taiping, role: .branch)
    for i in 0..<50 { try writer.replica.create(opinionBody("第\(i)条"), unitID: server.taiping) }
    _ = try await writer.engine.sync()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("replica-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("replica.sqlite").path
    let reader = try await server.device(unit: server.taiping, role: .branch, replicaPath: path)
    _ = try await reader.engine.sync()
    let clean = try await reader.engine.verify()
    #expect(clean.mismatchedTypes.isEmpty)

    // Damage the file behind the replica's back: lose two records, corrupt one version.
    let victims = try reader.replica.records(type: .opinion).prefix(3).map(\.id)
    try damage(path: path, drop: Array(victims.prefix(2)), staleVersion: victims[2])
    let damaged = try Replica(path: path, key: testKey(path))
    let engine = SyncEngine(replica: damaged, client: reader.engine.client)
    let repaired = try await engine.verify()
    #expect(repaired.mismatchedTypes == [.opinion])
    #expect(repaired.fetched == 3)
    #expect(repaired.removed == 0)
    #expect(try snapshot(damaged) == snapshot(try await server.scope(of: reader.actor)))
  }

  @Test("progress counts records up to the total, and the replica file is private")
  func progressAndFileMode() async throws {
    let server = try await TestServer()
    let writer = try await server.device(unit: server.taiping, role: .branch)
    for i in 0..<120 { try writer.replica.create(opinionBody("第\(i)条"), unitID: server.taiping) }
    _ = try await writer.engine.sync()
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("replica-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("replica.sqlite").path
    var reader = try await server.device(unit: server.taiping, role: .branch, replicaPath: path)
    reader.engine.pageSize = 25
    let seen = Mutex<[SyncProgress]>([])
    _ = try await reader.engine.sync { progress in seen.withLock { $0.append(progress) } }
    let pulling = seen.withLock { $0 }.filter { $0.phase == .pulling }
    #expect(pulling.count >= 5)
    #expect(pulling.map(\.done) == pulling.map(\.done).sorted())
    #expect(pulling.last.map { $0.done == $0.total } == true)
    #expect(pulling.last.map { $0.bytes > 0 } == true)
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
  }
}

/// Edits a replica file directly (as a disk fault or a bad copy would).
func damage(path: String, drop: [[UInt8]], staleVersion: [UInt8]) throws {
  let replica = try Replica(path: path, key: testKey(path))
  try replica.writer.write { db in
    for id in drop {
      try db.execute(sql: "DELETE FROM server_records WHERE id = ?", arguments: [Data(id)])
      try db.execute(sql: "DELETE FROM records WHERE id = ?", arguments: [Data(id)])
    }
    try db.execute(sql: "UPDATE server_records SET version = version + 7 WHERE id = ?", arguments: [Data(staleVersion)])
  }
}

@Suite("Faulty proxy")
struct FaultyProxyTests {
  @Test("with no faults the proxy passes everything through")
  func clean() async throws {
    let server = try await TestServer()
    let proxy = FaultyProxy(upstreamPort: server.port, seed: 1)
    let port = try await proxy.start()
    let device = try await server.device(unit: server.taiping, role: .branch, via: port, timeout: .seconds(60))
    try device.replica.create(memberBody("杜牧"), unitID: server.taiping)
    let report = try await device.engine.sync()
    #expect(report.pushed == 1)
    #expect(proxy.faultsInjected == 0)
    await proxy.stop()
  }
}

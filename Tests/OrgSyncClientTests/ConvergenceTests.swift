import Foundation
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncTestSupport
import Testing

/// The randomized convergence test. One server, five devices — two in 太平村 (overlapping
/// edits), one each in 新民村 and 大塘村 (all under 廉桥镇), and the county committee — make
/// random offline edits, deletes, moves, report submissions and reviews, and sync in random
/// order through a link that cuts, corrupts and stalls; the server restarts now and then. After
/// a final clean sync every replica must equal the server's view of its scope, and every
/// mutation ever made must have been applied exactly once, or rejected or conflicted with its
/// reason kept.
///
/// Reproduce a run with `ORGSYNC_SEED=<seed printed on failure>`; `ORGSYNC_ROUNDS` sets the
/// number of rounds (default 200; the long mode runs thousands).
@Suite("Convergence through a faulty link")
struct ConvergenceTests {
  @Test("replicas converge and every mutation is accounted for")
  func converge() async throws {
    let environment = ProcessInfo.processInfo.environment
    let seed = environment["ORGSYNC_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
    let rounds = environment["ORGSYNC_ROUNDS"].flatMap(Int.init) ?? 200
    print("convergence: seed \(seed), \(rounds) rounds")
    var rng = SeededGenerator(seed: seed)

    let server = try await TestServer()
    let proxy = FaultyProxy(
      upstreamPort: server.port, seed: seed &+ 1,
      faults: .init(cut: 0.5, corrupt: 0.2, stall: 0.1, within: 60_000))
    let port = try await proxy.start()
    let timeout = Duration.milliseconds(400)
    var devices: [Device] = []
    for (unit, role) in [
      (server.taiping, Orgsync_V1_DeviceRole.branch), (server.taiping, .branch), (server.xinmin, .branch),
      (server.datang, .branch), (server.county, .committee),
    ] {
      var device = try await server.device(unit: unit, role: role, via: port, timeout: timeout)
      device.engine.pushBatch = 7
      device.engine.pageSize = 13
      devices.append(device)
    }
    let branches = [server.taiping, server.xinmin, server.datang]
    var made: [[Orgsync_V1_Mutation]] = Array(repeating: [], count: devices.count)

    for round in 1...rounds {
      for (index, device) in devices.enumerated() {
        for _ in 0..<Int.random(in: 0...2, using: &rng) {
          if let m = try randomEdit(device, branches: branches, rng: &rng) { made[index].append(m) }
        }
      }
      for index in devices.indices.shuffled(using: &rng) where Bool.random(using: &rng) {
        _ = try? await devices[index].engine.sync()
      }
      if round % 40 == 0 {
        await server.stop()
        try await server.start()
      }
    }

    // A clean link: everyone syncs until nothing is left to move.
    proxy.faults = .none
    for _ in 0..<3 {
      for device in devices {
        var tries = 0
        while (try? await device.engine.sync()) == nil, tries < 200 {  // 400 ms each: a busy machine needs retries
          tries += 1
          try await Task.sleep(for: .milliseconds(30))
        }
      }
    }
    #expect(proxy.faultsInjected > 0, "seed \(seed): the link was damaged")

    for (index, device) in devices.enumerated() {
      #expect(try device.replica.status().outbox == 0, "seed \(seed): device \(index) has unsent edits")
      let local = try snapshot(device.replica)
      let remote = snapshot(try await server.scope(of: device.actor))
      #expect(local == remote, "seed \(seed): device \(index)'s replica differs from its scope on the server")
    }
    let countyInbox = Set(try devices[4].replica.conflicts(includeResolved: true).map(\.id))
    var outcomes: [Orgsync_V1_MutationOutcome: Int] = [:]
    for (index, mutations) in made.enumerated() {
      let rejectedHere = Set(try devices[index].replica.rejected().map { Data($0.mutationID) })
      for m in mutations {
        let id = Array(m.mutationID)
        guard let result = try await server.store.mutationResult(id: id) else {
          Issue.record("seed \(seed): mutation of device \(index) never reached the server")
          continue
        }
        outcomes[result.outcome, default: 0] += 1
        #expect(try await server.store.changeCount(mutationID: id) <= 1, "seed \(seed): applied twice")
        switch result.outcome {
        case .rejected:
          #expect(rejectedHere.contains(m.mutationID), "seed \(seed): a rejection without its reason kept")
          #expect(!result.reason.isEmpty)
        case .conflict:
          for conflict in result.conflictIds {
            #expect(try await server.store.conflictExists(id: Array(conflict)))
            #expect(countyInbox.contains(conflict), "seed \(seed): a conflict the county never saw")
          }
        default:
          break
        }
      }
    }
    print("convergence: seed \(seed), outcomes \(outcomes), faults injected \(proxy.faultsInjected)")
    #expect((outcomes[.applied] ?? 0) > rounds / 2)
    await proxy.stop()
  }

  /// One random offline edit by `device`; nil when there was nothing to do.
  func randomEdit(_ device: Device, branches: [[UInt8]], rng: inout SeededGenerator) throws -> Orgsync_V1_Mutation? {
    let replica = device.replica
    let unit = device.actor.unitID
    let roll = Int.random(in: 0..<100, using: &rng)
    if device.actor.role == .committee {
      let members = try replica.records(type: .member)
      let reports = try replica.records(type: .report).filter { $0.body.report.status == .submitted }
      if roll < 40, let member = members.randomElement(using: &rng) {
        guard let target = branches.filter({ $0 != member.unitID }).randomElement(using: &rng) else { return nil }
        return try replica.move(member.id, to: target)
      } else if roll < 80, let report = reports.randomElement(using: &rng) {
        let accept = Bool.random(using: &rng)
        var body = report.body
        body.report.status = accept ? .acknowledged : .returned
        body.report.reviewerComment = accept ? "" : "请补充具体事例"
        return try replica.update(report.id, fields: ["status", "reviewer_comment"], from: body)
      } else if roll < 90 {
        var n = Orgsync_V1_Notice()
        let township = try lianqiao(of: replica)
        n.audienceRootID = Data(township.isEmpty ? unit : township)
        n.title = "督促检查通知"
        n.body = "请按时报送材料。"
        n.issuedOn = CalendarDate.make(2026, 9, 20)
        var body = Orgsync_V1_RecordBody()
        body.notice = n
        return try replica.create(body, unitID: unit)
      }
      return nil
    }
    let members = try replica.records(type: .member).filter { $0.unitID == unit }
    let opinions = try replica.records(type: .opinion).filter { $0.unitID == unit }
    let reports = try replica.records(type: .report).filter { $0.unitID == unit }
    switch roll {
    case 0..<30:
      return try replica.create(memberBody("党员\(Int.random(in: 1...9999, using: &rng))"), unitID: unit)
    case 30..<45:
      return try replica.create(opinionBody("意见\(Int.random(in: 1...9999, using: &rng))"), unitID: unit)
    case 45..<70:
      guard let member = members.randomElement(using: &rng) else { return nil }
      var body = member.body
      let field = Bool.random(using: &rng) ? "note" : "phone"
      body.member.note = "备注\(Int.random(in: 1...99, using: &rng))"
      body.member.phone = "138\(Int.random(in: 10_000_000...99_999_999, using: &rng))"
      return try replica.update(member.id, fields: [field], from: body)
    case 70..<78:
      guard let opinion = opinions.randomElement(using: &rng) else { return nil }
      return try replica.delete(opinion.id)
    case 78..<88:
      if reports.count < 3 {
        let period = [Orgsync_V1_ReportPeriod.q1, .q2, .q3][reports.count]
        return try replica.create(reportBody(.draft, quarter: period), unitID: unit)
      }
      return nil
    default:
      guard let report = reports.first(where: { [.draft, .returned].contains($0.body.report.status) }) else {
        return nil
      }
      var body = report.body
      body.report.status = .submitted
      body.report.submittedOn = CalendarDate.make(2026, 10, 8)
      return try replica.update(report.id, fields: ["status", "submitted_on"], from: body)
    }
  }

  /// The township above the branches, as the county's replica knows it.
  func lianqiao(of replica: Replica) throws -> [UInt8] {
    try replica.records(type: .orgUnit).first { $0.body.orgUnit.code == "430521-103" }?.id ?? []
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

@Suite("Push, merge and conflicts")
struct PushTests {
  @Test("a replayed mutation returns its first result and changes nothing")
  func idempotentReplay() async throws {
    let county = try await County()
    let m = create(member("陈志强"), unit: county.taiping)
    let first = try await county.push(m, as: county.taipingBranch)
    let changesBefore = try await county.pullAll(county.countyCommittee).changes.count
    let again = try await county.push(m, as: county.taipingBranch)
    #expect(again == first)
    var renamed = edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["name"], member("陈志刚"))
    let rename = try await county.push(renamed, as: county.taipingBranch)
    #expect(rename.version == 2)
    // The same rename sent again (a retry after a lost reply) is not applied twice.
    renamed.hlc = nextHLC()
    let retry = try await county.push(renamed, as: county.taipingBranch)
    #expect(retry == rename)
    let record = try await county.store.record(id: Array(m.recordID), actor: county.taipingBranch)
    #expect(record?.version == 2)
    #expect(try await county.pullAll(county.countyCommittee).changes.count == changesBefore)
  }

  @Test("another unit's device reusing a mutation id is refused with a reason; the first result stands")
  func mutationIDsPerDevice() async throws {
    let county = try await County()
    let code = try await county.store.makeEnrollmentCode(unitID: county.taiping, role: .branch, validSeconds: 60)
    let enrolled = try await county.store.enroll(code: code, deviceName: "太平村")
    let taiping = Actor(deviceID: Array(enrolled.deviceID), unitID: county.taiping, role: .branch)
    let first = create(member("陆游"), unit: county.taiping)
    #expect(try await county.push(first, as: taiping).outcome == .applied)
    var other = create(member("范成大"), unit: county.xinmin)
    other.mutationID = first.mutationID
    let refused = try await county.push(other, as: county.xinminBranch)
    #expect(refused.outcome == .rejected)
    #expect(refused.field == "mutation_id")
    #expect(refused.reason.contains("another device"))
    #expect(try await county.store.record(id: Array(other.recordID), actor: county.xinminBranch) == nil)
    // The same unit's new device (re-enrolled in place) gets the first answer back.
    let again = try await county.store.enroll(
      code: try await county.store.makeEnrollmentCode(unitID: county.taiping, role: .branch, validSeconds: 60),
      deviceName: "太平村（新）")
    let replaced = Actor(deviceID: Array(again.deviceID), unitID: county.taiping, role: .branch)
    #expect(try await county.push(first, as: replaced).outcome == .applied)
    #expect(try await county.store.changeCount(mutationID: Array(first.mutationID)) == 1)
  }

  @Test("a device's second edit of a field, made before its first was accepted, is not a conflict")
  func ownEditsInSequence() async throws {
    let county = try await County()
    let m = create(member("韩梅梅"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    var first = member("韩梅梅")
    first.member.phone = "13800000001"
    var second = member("韩梅梅")
    second.member.phone = "13800000002"
    // Both made offline from version 1, pushed in order.
    let results = try await county.store.push(
      [
        edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["phone"], first),
        edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["phone"], second),
      ], actor: county.taipingBranch)
    #expect(results.map(\.outcome) == [.applied, .merged])
    let record = try await county.store.record(id: Array(m.recordID), actor: county.taipingBranch)
    #expect(record?.body.member.phone == "13800000002")
  }

  @Test("edits of different fields from the same base merge silently")
  func silentMerge() async throws {
    let county = try await County()
    let m = create(member("黄丽"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    var phone = member("黄丽")
    phone.member.phone = "13807391234"
    var job = member("黄丽")
    job.member.occupation = "村医"
    let a = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["phone"], phone), as: county.taipingBranch)
    let b = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["occupation"], job), as: county.taipingBranch)
    #expect(a.outcome == .applied)
    #expect(b.outcome == .merged)
    let record = try #require(try await county.store.record(id: Array(m.recordID), actor: county.taipingBranch))
    #expect(record.body.member.phone == "13807391234")
    #expect(record.body.member.occupation == "村医")
    #expect(record.version == 3)
    #expect(try await county.store.conflicts(actor: county.taipingBranch, includeResolved: true, limit: 10).isEmpty)
  }

  @Test("the same field edited on both sides: the later clock wins and the loser is kept")
  func realConflict() async throws {
    let county = try await County()
    let m = create(member("赵敏"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let early = nextHLC()
    let late = nextHLC()
    var laterEdit = member("赵敏")
    laterEdit.member.cadreTitle = "村委会主任"
    var earlierEdit = member("赵敏")
    earlierEdit.member.cadreTitle = "村支部书记"
    // The later edit arrives first; the earlier one arrives second from the same base.
    let first = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["cadre_title"], laterEdit, hlc: late),
      as: county.taipingBranch)
    // From a second device of the same branch (one device's own edits never conflict).
    let secondDevice = Actor(deviceID: Array("dev-taiping-laptop".utf8), unitID: county.taiping, role: .branch)
    let second = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["cadre_title"], earlierEdit, hlc: early),
      as: secondDevice)
    #expect(first.outcome == .applied)
    #expect(second.outcome == .conflict)
    #expect(second.conflictIds.count == 1)
    let record = try #require(try await county.store.record(id: Array(m.recordID), actor: county.taipingBranch))
    #expect(record.body.member.cadreTitle == "村委会主任")

    // The branch and its parent committee both see the conflict with the losing value.
    for actor in [county.taipingBranch, county.lianqiaoCommittee] {
      let conflicts = try await county.store.conflicts(actor: actor, includeResolved: false, limit: 10)
      #expect(conflicts.count == 1)
      #expect(conflicts.first?.fields == ["cadre_title"])
      #expect(conflicts.first?.loser.member.cadreTitle == "村支部书记")
      #expect(conflicts.first?.winner.member.cadreTitle == "村委会主任")
    }
    // A sibling branch does not.
    #expect(try await county.store.conflicts(actor: county.xinminBranch, includeResolved: true, limit: 10).isEmpty)
  }

  @Test("one device's older edit arriving after its newer one: the newer value stays, the older is kept in a conflict")
  func sameDeviceStaleEdit() async throws {
    let county = try await County()
    let m = create(member("赵敏"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let early = nextHLC()
    let late = nextHLC()
    var newer = member("赵敏")
    newer.member.cadreTitle = "村委会主任"
    var older = member("赵敏")
    older.member.cadreTitle = "村支部书记"
    let first = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["cadre_title"], newer, hlc: late),
      as: county.taipingBranch)
    #expect(first.outcome == .applied)
    // The same device's edit made before it, from the same base, arrives last.
    let stale = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["cadre_title"], older, hlc: early),
      as: county.taipingBranch)
    #expect(stale.outcome == .conflict)
    let record = try #require(try await county.store.record(id: Array(m.recordID), actor: county.taipingBranch))
    #expect(record.body.member.cadreTitle == "村委会主任", "the newer value is not overwritten")
    let conflicts = try await county.store.conflicts(actor: county.taipingBranch, includeResolved: false, limit: 10)
    #expect(conflicts.first?.loser.member.cadreTitle == "村支部书记", "the older value is kept, not dropped")
    #expect(conflicts.first?.winner.member.cadreTitle == "村委会主任")
  }

  @Test("two devices pushing the same record at once: both results stand, nothing is lost")
  func concurrentPushes() async throws {
    let county = try await County()
    let m = create(member("孙悟"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let store = county.store
    let taiping = county.taiping
    let results = try await withThrowingTaskGroup(of: Orgsync_V1_MutationResult.self) { group in
      for (i, actor) in [county.taipingBranch, county.lianqiaoCommittee].enumerated() {
        group.addTask {
          var body = member("孙悟")
          body.member.note = "第\(i)台设备"
          var mutation = edit(Array(m.recordID), unit: taiping, base: 1, fields: ["note"], body)
          if actor.role == .committee {
            // A committee may only move members; make its change a move within its subtree.
            mutation = edit(Array(m.recordID), unit: county.xinmin, base: 1, fields: [], member("孙悟"))
            mutation.fields = []
          }
          return try await store.push([mutation], actor: actor)[0]
        }
      }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(results.allSatisfy { $0.outcome != .rejected }, "\(results.map(\.reason))")
    let record = try #require(try await store.record(id: Array(m.recordID), actor: county.countyCommittee))
    #expect(record.version == 3)
    #expect(record.body.member.note == "第0台设备")
    #expect(record.unitID == Data(county.xinmin))
  }

  @Test("a store reopened from its file has everything that was pushed")
  func persistence() async throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-\(UUID()).sqlite").path
    defer {
      for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
    let m: Orgsync_V1_Mutation
    let branch: Actor
    do {
      let county = try await County(path: path)
      m = create(member("吴秀英"), unit: county.taiping)
      branch = county.taipingBranch
      #expect(try await county.push(m, as: branch).outcome == .applied)
    }
    let reopened = try SQLiteStore(path: path)
    let record = try await reopened.record(id: Array(m.recordID), actor: branch)
    #expect(record?.body.member.name == "吴秀英")
    // The replayed mutation is still known after the restart.
    let replay = try await reopened.push([m], actor: branch)
    #expect(replay.first?.outcome == .applied)
    #expect(try await reopened.record(id: Array(m.recordID), actor: branch)?.version == 1)
  }

  @Test("the audit log names device, record and fields, never the values")
  func audit() async throws {
    let county = try await County()
    let m = create(member("郑成功"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    var phone = member("郑成功")
    phone.member.phone = "13912345678"
    try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["phone"], phone), as: county.taipingBranch)
    let entries = try await county.store.audit(recordID: Array(m.recordID))
    #expect(entries.map(\.action) == ["create", "update"])
    #expect(entries.allSatisfy { $0.deviceID == county.taipingBranch.deviceID })
    #expect(entries.last?.fields == ["phone"])
    let text = entries.map { "\($0)" }.joined()
    #expect(!text.contains("13912345678") && !text.contains("郑成功"))
  }
}

@Suite("Report state machine")
struct ReportTests {
  @Test("draft → submitted → returned → resubmitted → acknowledged, with the branch locked out while submitted")
  func lifecycle() async throws {
    let county = try await County()
    let id = RecordID.make()
    let branch = county.taipingBranch
    let committee = county.lianqiaoCommittee
    #expect(try await county.push(create(report(.draft), id: id, unit: county.taiping), as: branch).outcome == .applied)
    #expect(
      try await county.push(
        edit(id, unit: county.taiping, base: 1, fields: ["status", "submitted_on"], report(.submitted)), as: branch
      ).outcome == .applied)

    // Submitted: read-only to the branch.
    let locked = try await county.push(
      edit(id, unit: county.taiping, base: 2, fields: ["title"], report(.submitted, title: "改标题")), as: branch)
    #expect(locked.outcome == .rejected)
    #expect(locked.rejectCode == .state)

    // The committee may review, not rewrite.
    var rewritten = report(.submitted)
    rewritten.report.body = "县委改写的内容"
    let rewrite = try await county.push(
      edit(id, unit: county.taiping, base: 2, fields: ["body"], rewritten), as: committee)
    #expect(rewrite.rejectCode == .permission)
    let returned = try await county.push(
      edit(
        id, unit: county.taiping, base: 2, fields: ["status", "reviewer_comment"],
        report(.returned, comment: "请补充走访群众的具体情况")), as: committee)
    #expect(returned.outcome == .applied, "\(returned.reason)")

    // Returned: the branch edits and submits again.
    let resubmit = try await county.push(
      edit(
        id, unit: county.taiping, base: 3, fields: ["status", "title"],
        report(.submitted, title: "2026年第三季度检查报告（修订）")), as: branch)
    #expect(resubmit.outcome == .applied, "\(resubmit.reason)")
    let ack = try await county.push(
      edit(id, unit: county.taiping, base: 4, fields: ["status"], report(.acknowledged)), as: committee)
    #expect(ack.outcome == .applied, "\(ack.reason)")
    let final = try await county.push(
      edit(id, unit: county.taiping, base: 5, fields: ["title"], report(.acknowledged, title: "x")), as: branch)
    #expect(final.rejectCode == .state)
    let stored = try await county.store.record(id: id, actor: branch)
    #expect(stored?.body.report.status == .acknowledged)
    #expect(stored?.body.report.title == "2026年第三季度检查报告（修订）")
  }

  @Test("a branch cannot acknowledge its own report, and a sibling committee cannot review it")
  func wrongReviewer() async throws {
    let county = try await County()
    let id = RecordID.make()
    try await county.push(create(report(.submitted), id: id, unit: county.taiping), as: county.taipingBranch)
    let selfAck = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status"], report(.acknowledged)), as: county.taipingBranch)
    #expect(selfAck.rejectCode == .state)
    let other = Actor(deviceID: Array("x".utf8), unitID: county.liuguangling, role: .committee)
    let sibling = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status"], report(.acknowledged)), as: other)
    #expect(sibling.rejectCode == .permission)
  }
}

@Suite("Scope")
struct ScopeTests {
  @Test("a branch pulls only its own subtree, the notices addressed to it and its ancestors' names")
  func pullScope() async throws {
    let county = try await County()
    let mine = create(member("林黛玉"), unit: county.taiping)
    let sibling = create(member("薛宝钗"), unit: county.xinmin)
    try await county.push(mine, as: county.taipingBranch)
    try await county.push(sibling, as: county.xinminBranch)
    let toLianqiao = create(notice(audience: county.lianqiao), unit: county.county)
    let toLiuguangling = create(notice(audience: county.liuguangling), unit: county.county)
    #expect(try await county.push(toLianqiao, as: county.countyCommittee).outcome == .applied)
    #expect(try await county.push(toLiuguangling, as: county.countyCommittee).outcome == .applied)

    let pulled = try await county.pullAll(county.taipingBranch, pageSize: 2)
    let ids = pulled.changes.liveIDs
    #expect(ids.contains(mine.recordID))
    #expect(!ids.contains(sibling.recordID))
    #expect(ids.contains(toLianqiao.recordID))
    #expect(!ids.contains(toLiuguangling.recordID))
    // The chain of ancestors, by name and code, without their people.
    let units = pulled.changes.filter { $0.record.type == .orgUnit }
    #expect(Set(units.map(\.record.id)) == Set([county.taiping, county.lianqiao, county.county].map { Data($0) }))
    #expect(units.first { $0.record.id == Data(county.county) }?.record.body.orgUnit.secretary == "")
    #expect(units.first { $0.record.id == Data(county.taiping) }?.record.body.orgUnit.secretary == "王建国")

    // The county sees everything below it.
    let all = try await county.pullAll(county.countyCommittee).changes.liveIDs
    #expect(all.isSuperset(of: [mine.recordID, sibling.recordID, toLianqiao.recordID, toLiuguangling.recordID]))
  }

  @Test("writing outside the subtree is refused", arguments: ["sibling", "parent", "move out"])
  func writeOutsideScope(_ what: String) async throws {
    let county = try await County()
    let result: Orgsync_V1_MutationResult
    switch what {
    case "sibling":
      result = try await county.push(create(member("贾宝玉"), unit: county.xinmin), as: county.taipingBranch)
    case "parent":
      result = try await county.push(create(opinion(), unit: county.lianqiao), as: county.taipingBranch)
    default:
      let m = create(member("贾宝玉"), unit: county.taiping)
      try await county.push(m, as: county.taipingBranch)
      result = try await county.push(
        edit(Array(m.recordID), unit: county.shuangfeng, base: 1, fields: [], member("贾宝玉")),
        as: county.taipingBranch)
    }
    #expect(result.outcome == .rejected)
    #expect(result.rejectCode == .permission)
  }

  @Test("a member moved between branches leaves one replica and enters the other")
  func moveBetweenBranches() async throws {
    let county = try await County()
    let m = create(member("杜甫"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let taipingBefore = try await county.pullAll(county.taipingBranch)
    let shuangfengBefore = try await county.pullAll(county.shuangfengBranch)
    #expect(taipingBefore.changes.liveIDs.contains(m.recordID))

    let move = try await county.push(
      edit(Array(m.recordID), unit: county.shuangfeng, base: 1, fields: [], member("杜甫")),
      as: county.countyCommittee)
    #expect(move.outcome == .applied, "\(move.reason)")

    let taipingAfter = try await county.pullAll(county.taipingBranch, from: taipingBefore.cursor)
    #expect(taipingAfter.changes.exitIDs == [m.recordID])
    let shuangfengAfter = try await county.pullAll(county.shuangfengBranch, from: shuangfengBefore.cursor)
    #expect(shuangfengAfter.changes.liveIDs == [m.recordID])
    // The township that lost it sees it leave too; the county sees it stay.
    let county2 = try await county.pullAll(county.countyCommittee)
    #expect(county2.changes.liveIDs.contains(m.recordID))
  }

  @Test(
    "a stale edit after a move: only the branch the record left gets a conflict, and it never carries the current values"
  )
  func staleEditAfterMoveLeaksNothing() async throws {
    let county = try await County()
    var body = member("杜甫")
    body.member.phone = "13900000001"
    let m = create(body, unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let move = try await county.push(
      edit(Array(m.recordID), unit: county.shuangfeng, base: 1, fields: [], member("杜甫")), as: county.countyCommittee)
    #expect(move.outcome == .applied)
    var phone = member("杜甫")
    phone.member.phone = "13900000002"
    // Another branch, which never held the record, names its own unit: refused, nothing stored.
    let probe = try await county.push(
      edit(Array(m.recordID), unit: county.xinmin, base: 1, fields: ["phone"], phone), as: county.xinminBranch)
    #expect(probe.outcome == .rejected)
    #expect(try await county.store.conflicts(actor: county.xinminBranch, includeResolved: true, limit: 10).isEmpty)
    // The branch it left: a conflict with its own typed value and nothing of the record as it is now.
    let stale = try await county.push(
      edit(Array(m.recordID), unit: county.taiping, base: 1, fields: ["phone"], phone), as: county.taipingBranch)
    #expect(stale.outcome == .conflict)
    let told = try await county.store.conflicts(actor: county.taipingBranch, includeResolved: false, limit: 10)
    #expect(told.first?.loser.member.phone == "13900000002")
    #expect(told.first?.winner.member.phone == "", "the current phone is not the old branch's to see")
  }

  @Test("a deleted record reaches replicas as a tombstone")
  func tombstone() async throws {
    let county = try await County()
    let m = create(opinion(), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let before = try await county.pullAll(county.taipingBranch)
    var delete = edit(Array(m.recordID), unit: county.taiping, base: 1, fields: [], opinion())
    delete.delete = true
    #expect(try await county.push(delete, as: county.taipingBranch).outcome == .applied)
    let after = try await county.pullAll(county.taipingBranch, from: before.cursor)
    #expect(after.changes.count == 1)
    #expect(after.changes.first?.record.deleted == true)
    #expect(after.changes.first?.record.id == m.recordID)
  }

  @Test("moving a village to another township moves its records' scope and resets its replica")
  func moveSubtree() async throws {
    let county = try await County()
    let m = create(member("李白"), unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    let lianqiaoBefore = try await county.pullAll(county.lianqiaoCommittee)
    let liuguanglingBefore = try await county.pullAll(
      Actor(deviceID: [9], unitID: county.liuguangling, role: .committee))
    let taipingBefore = try await county.pullAll(county.taipingBranch)

    var unit = County.unit("430521-103-007", "太平村党支部", .grassroots, .branch, parent: county.liuguangling)
    unit.secretary = "王建国"
    var body = Orgsync_V1_RecordBody()
    body.orgUnit = unit
    let move = try await county.push(
      edit(county.taiping, unit: county.taiping, base: 1, fields: ["parent_id"], body), as: county.countyCommittee)
    #expect(move.outcome == .applied, "\(move.reason)")

    let lost = try await county.pullAll(county.lianqiaoCommittee, from: lianqiaoBefore.cursor)
    #expect(lost.changes.exitIDs.isSuperset(of: [m.recordID, Data(county.taiping)]))
    let gained = try await county.pullAll(
      Actor(deviceID: [9], unitID: county.liuguangling, role: .committee), from: liuguanglingBefore.cursor)
    #expect(gained.changes.liveIDs.isSuperset(of: [m.recordID, Data(county.taiping)]))
    let moved = try await county.pullAll(county.taipingBranch, from: taipingBefore.cursor)
    #expect(moved.reset)
    #expect(moved.changes.liveIDs.contains(Data(county.liuguangling)))
    #expect(!moved.changes.liveIDs.contains(Data(county.lianqiao)))
  }

  @Test("a unit cannot be moved below itself")
  func noCycles() async throws {
    let county = try await County()
    var body = Orgsync_V1_RecordBody()
    body.orgUnit = County.unit("430521-103", "中共廉桥镇委员会", .township, .committee, parent: county.taiping)
    let result = try await county.push(
      edit(county.lianqiao, unit: county.lianqiao, base: 1, fields: ["parent_id"], body), as: county.countyCommittee)
    #expect(result.outcome == .rejected)
  }

  @Test("the digest counts exactly what a full pull delivers")
  func digestMatchesPull() async throws {
    let county = try await County()
    for i in 0..<7 { try await county.push(create(member("成员\(i)"), unit: county.taiping), as: county.taipingBranch) }
    for _ in 0..<3 { try await county.push(create(opinion(), unit: county.xinmin), as: county.xinminBranch) }
    try await county.push(create(notice(audience: county.lianqiao), unit: county.county), as: county.countyCommittee)
    let digest = try await county.store.digest(actor: county.taipingBranch, types: [])
    let pulled = try await county.pullAll(county.taipingBranch).changes.filter { $0.kind == .upsert }
    var local: [Orgsync_V1_RecordType: DigestAccumulator] = [:]
    for change in pulled where !change.record.deleted {
      local[change.record.type, default: DigestAccumulator()].add(
        id: Array(change.record.id), version: change.record.version)
    }
    #expect(digest.types.map(\.type) == local.keys.sorted { $0.rawValue < $1.rawValue })
    for type in digest.types {
      #expect(type.count == local[type.type]?.count)
      #expect(type.hash == Data(local[type.type]!.hash))
    }
    #expect(digest.types.first { $0.type == .member }?.count == 7)
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// 组织关系转接 as a two-step workflow: the member's branch issues the letter, the receiving
/// unit (named by its organisation code) sees it and accepts or returns it; acceptance moves
/// the member. Each side works through its own device only.
@Suite("Transfers of organisational relationship")
struct TransferTests {
  static func transfer(member: [UInt8], to code: String, name: String = "双凤村党支部") -> Orgsync_V1_RecordBody {
    var t = Orgsync_V1_Transfer()
    t.memberID = Data(member)
    t.memberName = "李秀英"
    t.toUnitCode = code
    t.toUnitName = name
    t.letterNo = "邵组转〔2026〕118号"
    t.reason = "外出务工，就近参加组织生活"
    t.issuedOn = CalendarDate.make(2026, 11, 2)
    t.status = .issued
    t.fromUnitName = "太平村党支部"
    return .with { $0.transfer = t }
  }

  /// A full member of 太平村, with a transfer issued to 双凤村 (another township).
  static func issued(_ county: County) async throws -> (member: [UInt8], transfer: [UInt8], body: Orgsync_V1_RecordBody)
  {
    let memberID = RecordID.make()
    var m = member("李秀英")
    m.member.gender = .female
    #expect(
      try await county.push(create(m, id: memberID, unit: county.taiping), as: county.taipingBranch).outcome == .applied
    )
    let transferID = RecordID.make()
    let body = Self.transfer(member: memberID, to: "430521-104-002")
    let result = try await county.push(create(body, id: transferID, unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .applied, "\(result.reason)")
    return (memberID, transferID, body)
  }

  static func answer(
    _ body: Orgsync_V1_RecordBody, _ status: Orgsync_V1_TransferStatus, note: String = ""
  ) -> Orgsync_V1_RecordBody {
    var answered = body
    answered.transfer.status = status
    answered.transfer.answeredOn = CalendarDate.make(2026, 11, 20)
    answered.transfer.answerNote = note
    return answered
  }

  @Test(
    "the branch issues, the receiving branch in another township sees the letter but not the member, accepts, and the member moves with its history"
  )
  func acceptMoves() async throws {
    let county = try await County()
    let (memberID, transferID, body) = try await Self.issued(county)

    // The receiving branch sees the transfer (with the copied name), not the member's record.
    let (received, cursor) = try await { () async throws -> ([Orgsync_V1_Change], [UInt8]) in
      let pulled = try await county.pullAll(county.shuangfengBranch)
      return (pulled.changes, pulled.cursor)
    }()
    #expect(received.liveIDs.contains(Data(transferID)))
    #expect(!received.liveIDs.contains(Data(memberID)))
    #expect(received.first { $0.record.id == Data(transferID) }?.record.body.transfer.memberName == "李秀英")
    // A third branch does not see it at all.
    #expect(!(try await county.pullAll(county.xinminBranch).changes.liveIDs.contains(Data(transferID))))

    // The issuing branch cannot accept its own letter; a branch it was not sent to cannot either.
    let accept = edit(
      transferID, unit: county.taiping, base: 1, fields: ["status", "answered_on"], Self.answer(body, .accepted))
    var result = try await county.push(accept, as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.rejectCode == .permission, "\(result.reason)")
    var other = accept
    other.mutationID = Data(RecordID.make())
    result = try await county.push(other, as: county.xinminBranch)
    #expect(result.outcome == .rejected && result.rejectCode == .permission, "\(result.reason)")

    // The receiving branch accepts: the member is now its own, and gone from 太平村.
    var mine = accept
    mine.mutationID = Data(RecordID.make())
    result = try await county.push(mine, as: county.shuangfengBranch)
    #expect(result.outcome == .applied, "\(result.reason)")
    let moved = try await county.store.record(id: memberID, actor: county.shuangfengBranch)
    #expect(moved?.body.member.name == "李秀英")
    #expect(moved.map { Array($0.unitID) } == county.shuangfeng)
    #expect(try await county.store.record(id: memberID, actor: county.taipingBranch) == nil)
    let after = try await county.pullAll(county.shuangfengBranch, from: cursor)
    #expect(after.changes.liveIDs.contains(Data(memberID)))

    // The old branch keeps the trace: the transfer, accepted.
    let trace = try await county.store.record(id: transferID, actor: county.taipingBranch)
    #expect(trace?.body.transfer.status == .accepted)

    // Answering twice, or the same answer again, moves nothing more.
    let replay = try await county.push(mine, as: county.shuangfengBranch)
    #expect(replay.outcome == .applied && replay.version == result.version)
    #expect(try await county.store.record(id: memberID, actor: county.countyCommittee)?.version == moved?.version)
    var again = edit(
      transferID, unit: county.taiping, base: result.version, fields: ["status", "answer_note"],
      Self.answer(body, .returned, note: "查无此人"))
    again.mutationID = Data(RecordID.make())
    result = try await county.push(again, as: county.shuangfengBranch)
    #expect(result.outcome == .rejected && result.rejectCode == .state, "\(result.reason)")

    // The member's history reads as one record: created in 太平村, moved to 双凤村.
    let history = try await county.store.history(recordID: memberID, actor: county.countyCommittee)
    #expect(history.map(\.action) == ["create", "move"])
  }

  @Test("a returned letter leaves the member where they were and needs a reason")
  func returned() async throws {
    let county = try await County()
    let (memberID, transferID, body) = try await Self.issued(county)
    var result = try await county.push(
      edit(transferID, unit: county.taiping, base: 1, fields: ["status", "answered_on"], Self.answer(body, .returned)),
      as: county.shuangfengBranch)
    #expect(result.outcome == .rejected && result.field == "answer_note", "\(result.reason)")
    result = try await county.push(
      edit(
        transferID, unit: county.taiping, base: 1, fields: ["status", "answered_on", "answer_note"],
        Self.answer(body, .returned, note: "介绍信抬头有误")),
      as: county.shuangfengBranch)
    #expect(result.outcome == .applied, "\(result.reason)")
    let member = try await county.store.record(id: memberID, actor: county.taipingBranch)
    #expect(member.map { Array($0.unitID) } == county.taiping)
  }

  @Test(
    "a letter to a code no unit has, for an applicant, or already answered when issued is refused with the field named")
  func refusals() async throws {
    let county = try await County()
    let memberID = RecordID.make()
    #expect(
      try await county.push(create(member("王五"), id: memberID, unit: county.taiping), as: county.taipingBranch)
        .outcome == .applied)
    var result = try await county.push(
      create(Self.transfer(member: memberID, to: "430521-999-999"), unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "to_unit_code", "\(result.reason)")
    result = try await county.push(
      create(Self.transfer(member: memberID, to: "430521-103-007"), unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "to_unit_code", "its own unit: \(result.reason)")

    var applicant = member("赵六", status: .applicant)
    applicant.member.appliedOn = CalendarDate.make(2026, 3, 1)
    let applicantID = RecordID.make()
    #expect(
      try await county.push(create(applicant, id: applicantID, unit: county.taiping), as: county.taipingBranch)
        .outcome == .applied)
    result = try await county.push(
      create(Self.transfer(member: applicantID, to: "430521-104-002"), unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "member_id", "\(result.reason)")

    result = try await county.push(
      create(Self.answer(Self.transfer(member: memberID, to: "430521-104-002"), .accepted), unit: county.taiping),
      as: county.taipingBranch)
    #expect(result.outcome == .rejected, "a letter starts issued: \(result.reason)")
  }

  @Test("the county sends a member of one of its villages elsewhere; the roll-up counts in transit, then out and in")
  func countyIssuesAndRollUp() async throws {
    let county = try await County()
    let memberID = RecordID.make()
    #expect(
      try await county.push(create(member("孙七"), id: memberID, unit: county.xinmin), as: county.xinminBranch)
        .outcome == .applied)
    let transferID = RecordID.make()
    var body = Self.transfer(member: memberID, to: "430521-104-002")
    body.transfer.fromUnitName = "新民村党支部"
    var result = try await county.push(create(body, id: transferID, unit: county.xinmin), as: county.countyCommittee)
    #expect(result.outcome == .applied, "a county issues for its villages' members: \(result.reason)")

    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .year
    var township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    #expect(township.total.transfersInTransit == 1)
    result = try await county.push(
      edit(transferID, unit: county.xinmin, base: 1, fields: ["status", "answered_on"], Self.answer(body, .accepted)),
      as: county.shuangfengBranch)
    #expect(result.outcome == .applied, "\(result.reason)")
    township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    #expect(township.total.transfersInTransit == 0)
    #expect(township.total.transfersOut == 1, "it left 廉桥镇")
    let other = try await county.store.rollUp(actor: county.shuangfengBranch, request: request)
    #expect(other.total.transfersIn == 1, "it arrived in 双凤村 from outside")
    let whole = try await county.store.rollUp(actor: county.countyCommittee, request: request)
    #expect(whole.total.transfersOut == 0 && whole.total.transfersIn == 0, "inside the county it is neither")
  }
}

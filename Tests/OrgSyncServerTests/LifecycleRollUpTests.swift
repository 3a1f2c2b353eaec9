import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// Party dues, the assessment loop and the follow-up counts in the roll-up, worked out by hand.
/// The server's clock is fixed at 2026-11-27 (China time), so "last month" is October.
@Suite("Dues, assessments and follow-ups in the roll-up")
struct LifecycleRollUpTests {
  static let fixed: @Sendable () -> Date = { Date(timeIntervalSince1970: 1_795_766_400) }  // 2026-11-27 00:00 UTC

  static func payment(_ member: [UInt8], _ from: Int32, _ to: Int32, fen: Int64) -> Orgsync_V1_RecordBody {
    var p = Orgsync_V1_DuesPayment()
    p.memberID = Data(member)
    p.fromMonth = from
    p.toMonth = to
    p.amountFen = fen
    p.paidOn = CalendarDate.make(2026, 11, 1)
    return .with { $0.duesPayment = p }
  }

  static func assessment(
    _ kind: Orgsync_V1_AssessmentKind, _ change: (inout Orgsync_V1_Assessment) -> Void = { _ in }
  ) -> Orgsync_V1_RecordBody {
    var a = Orgsync_V1_Assessment()
    a.kind = kind
    a.year = 2026
    a.date = CalendarDate.make(2026, 6, 1)
    a.content = "带头发展油茶产业"
    change(&a)
    return .with { $0.assessment = a }
  }

  @Test("dues owed by income band, paid in part, and who is six months behind")
  func dues() async throws {
    let county = try await County(clock: Self.fixed)
    var results: [Orgsync_V1_MutationResult] = []
    let admin = Actor(deviceID: Array("admin".utf8), unitID: county.county, role: .admin)
    // 太平村: a teacher on 4,200 yuan (1 %: 42 yuan a month), a farmer paying 0.5 yuan, a retiree
    // on 2,600 yuan (0.5 %: 13 yuan).
    let teacher = RecordID.make()
    let farmer = RecordID.make()
    let retiree = RecordID.make()
    for (id, category, base) in [
      (teacher, Orgsync_V1_DuesCategory.salaried, Int64(420_000)), (farmer, .farmer, 50), (retiree, .retired, 260_000),
    ] {
      var m = member("党员")
      m.member.duesCategory = category
      m.member.duesBaseFen = base
      let r = try await county.store.push([create(m, id: id, unit: county.taiping)], actor: admin)[0]
      #expect(r.outcome == .applied, "\(r.reason)")
    }
    // The teacher paid January–October (420 yuan); the farmer January–May (2.5 yuan: June to
    // October unpaid is five months, not yet six); the
    // retiree nothing this year, having paid through December 2025.
    for body in [
      Self.payment(teacher, 202601, 202610, fen: 42_000), Self.payment(farmer, 202601, 202605, fen: 250),
      Self.payment(retiree, 202507, 202512, fen: 7_800),
    ] {
      let r = try await county.store.push([create(body, unit: county.taiping)], actor: admin)[0]
      #expect(r.outcome == .applied, "\(r.reason)")
    }
    // 新民村 keeps no dues ledger here: nothing is reckoned owed there, and nobody is behind.
    var other = member("新民党员")
    other.member.duesCategory = .salaried
    other.member.duesBaseFen = 300_000
    results.append(try await county.push(create(other, unit: county.xinmin), as: county.xinminBranch))
    #expect(results.allSatisfy { $0.outcome == .applied }, "\(results.map(\.reason))")

    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .year
    let township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    let taiping = try #require(township.rows.first { $0.name == "太平村党支部" })
    // Owed January–October: 10 × (4,200 + 50 + 1,300) fen.
    #expect(taiping.duesDueFen == 10 * (4_200 + 50 + 1_300))
    #expect(taiping.duesPaidFen == 42_000 + 250, "the 2025 payment is not this year's")
    #expect(taiping.duesArrears == 1, "the retiree: paid through December 2025, ten months behind")
    let xinmin = try #require(township.rows.first { $0.name == "新民村党支部" })
    #expect(xinmin.duesDueFen == 0, "a unit keeping no dues ledger here is not reckoned")
    #expect(xinmin.duesArrears == 0)
  }

  @Test("the assessment loop: pledges, remarks, ratings (the latest per member), stars, pairings and targets")
  func assessments() async throws {
    let county = try await County(clock: Self.fixed)
    let members = (0..<3).map { _ in RecordID.make() }
    for id in members {
      #expect(
        try await county.push(create(member("党员"), id: id, unit: county.taiping), as: county.taipingBranch).outcome
          == .applied)
    }
    let bodies: [Orgsync_V1_RecordBody] = [
      Self.assessment(.publicPledge) {
        $0.place = "村务公开栏"; $0.memberID = Data(members[0])
      },
      Self.assessment(.publicPledge) {
        $0.place = "党员大会"; $0.memberID = Data(members[1])
      },
      Self.assessment(.leaderReview) { $0.reviewer = "镇党委书记" },
      Self.assessment(.democraticReview) {
        $0.memberID = Data(members[0]); $0.grade = .excellent
      },
      // Rated twice: the later rating stands.
      Self.assessment(.democraticReview) {
        $0.memberID = Data(members[1]); $0.grade = .incompetent
      },
      Self.assessment(.democraticReview) {
        $0.memberID = Data(members[1])
        $0.grade = .competent
        $0.date = CalendarDate.make(2026, 9, 1)
      },
      Self.assessment(.democraticReview) {
        $0.memberID = Data(members[2]); $0.grade = .incompetent
      },
      Self.assessment(.starRating) { $0.stars = 4 },
      Self.assessment(.pairing) {
        $0.memberID = Data(members[0]); $0.partner = "五保户李大爷"
      },
      Self.assessment(.pairing) {
        $0.memberID = Data(members[1])
        $0.partner = "留守儿童王小明"
        $0.completedOn = CalendarDate.make(2026, 8, 1)
      },
      Self.assessment(.yearTarget) { $0.completedOn = CalendarDate.make(2026, 10, 1) },
      Self.assessment(.yearTarget),
      Self.assessment(.yearTarget) { $0.year = 2025 },  // another year
    ]
    for body in bodies {
      let r = try await county.push(create(body, unit: county.taiping), as: county.taipingBranch)
      #expect(r.outcome == .applied, "\(r.reason)")
    }
    // A rating without a grade, and six stars, are refused.
    let ungraded = try await county.push(
      create(Self.assessment(.democraticReview) { $0.memberID = Data(members[0]) }, unit: county.taiping),
      as: county.taipingBranch)
    #expect(ungraded.field == "grade")
    let six = try await county.push(
      create(Self.assessment(.starRating) { $0.stars = 6 }, unit: county.taiping), as: county.taipingBranch)
    #expect(six.field == "stars")

    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .year
    let t = try await county.store.rollUp(actor: county.countyCommittee, request: request).total
    #expect(t.pledgesPublic == 2)
    #expect(t.leaderReviews == 1)
    #expect(t.membersReviewed == 3)
    #expect(t.membersIncompetent == 1)
    #expect((t.unitsRated, t.stars) == (1, 4))
    #expect(t.pairingsActive == 1)
    #expect((t.targetsSet, t.targetsMet) == (2, 1))
  }

  @Test("notices issued, support given and follow-ups are counted, not only named")
  func followUps() async throws {
    let county = try await County(clock: Self.fixed)
    #expect(
      try await county.push(
        create(notice(audience: county.lianqiao), unit: county.lianqiao), as: county.lianqiaoCommittee
      )
      .outcome == .applied)
    var item = Orgsync_V1_SupportItem()
    item.what = "党员活动室桌椅"
    item.amountFen = 380_000
    item.quantity = 20
    item.date = CalendarDate.make(2026, 8, 8)
    #expect(
      try await county.push(create(.with { $0.supportItem = item }, unit: county.taiping), as: county.taipingBranch)
        .outcome == .applied)
    var inspection = Orgsync_V1_Inspection()
    inspection.issuerUnitID = Data(county.lianqiao)
    inspection.date = CalendarDate.make(2026, 7, 1)
    inspection.findings = "三会一课记录不全"
    inspection.followUpDue = CalendarDate.make(2026, 9, 30)
    #expect(
      try await county.push(
        create(.with { $0.inspection = inspection }, unit: county.xinmin), as: county.lianqiaoCommittee
      )
      .outcome == .applied)
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let rollUp = try await county.store.rollUp(actor: county.countyCommittee, request: request)
    let lianqiao = try #require(rollUp.rows.first { $0.name == "中共廉桥镇委员会" })
    #expect(lianqiao.notices == 1)
    #expect(lianqiao.noticesUnread == 2, "neither village has signed for the township's notice")
    #expect((lianqiao.supportItems, lianqiao.supportFen) == (1, 380_000))
    #expect(lianqiao.inspectionsOverdue == 1)
  }

  @Test("members are counted as they stood on the period's last day; meetings by kind per unit")
  func asOfPeriodEnd() async throws {
    let county = try await County(clock: Self.fixed)
    let admin = Actor(deviceID: Array("admin".utf8), unitID: county.county, role: .admin)
    var converted = member("十月转正", status: .full)  // probationary through Q3
    converted.member.probationStart = CalendarDate.make(2025, 10, 8)
    converted.member.fullMemberOn = CalendarDate.make(2026, 10, 8)
    var admitted = member("十一月接收", status: .probationary)  // a development target in Q3
    admitted.member.appliedOn = CalendarDate.make(2023, 3, 1)
    admitted.member.activistOn = CalendarDate.make(2024, 3, 1)
    admitted.member.developmentTargetOn = CalendarDate.make(2025, 6, 1)
    admitted.member.probationStart = CalendarDate.make(2026, 11, 2)
    var died = member("十月去世", status: .deceased)  // still a full member on 30 September
    died.member.endedOn = CalendarDate.make(2026, 10, 20)
    var later = member("十一月申请", status: .applicant)  // not yet an applicant in Q3
    later.member.appliedOn = CalendarDate.make(2026, 11, 10)
    var bodies = [converted, admitted, died, later]
    for (kind, month) in [(Orgsync_V1_MeetingKind.branchGeneral, 8), (.branchCommittee, 7), (.branchCommittee, 10)] {
      var m = Orgsync_V1_Meeting()
      m.kind = kind
      m.date = CalendarDate.make(2026, month, 10)
      m.topic = "学习"
      bodies.append(.with { $0.meeting = m })
    }
    for body in bodies {
      let r = try await county.store.push([create(body, unit: county.taiping)], actor: admin)[0]
      #expect(r.outcome == .applied, "\(r.reason)")
    }
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let q3 = try await county.store.rollUp(actor: county.countyCommittee, request: request).total
    func count(_ status: Orgsync_V1_MemberStatus) -> UInt32 {
      q3.membersByStatus.first { $0.status == status }?.count ?? 0
    }
    #expect((count(.full), count(.probationary), count(.developmentTarget)) == (1, 1, 1))
    #expect(count(.applicant) == 0 && count(.deceased) == 0)
    #expect(q3.partyMembers == 2 && q3.members == 3)
    #expect((q3.generalMeetings, q3.committeeMeetings) == (1, 1), "October's meeting is Q4's")
    request.period = .q4
    let q4 = try await county.store.rollUp(actor: county.countyCommittee, request: request).total
    #expect(q4.membersByStatus.first { $0.status == .deceased }?.count == 1)
    #expect(q4.partyMembers == 2, "converted and admitted")
  }

  @Test(
    "a notice not signed for is counted per village, from the township's view too; a receipt for another unit's notice is refused"
  )
  func receipts() async throws {
    let county = try await County(clock: Self.fixed)
    let townshipNotice = RecordID.make()
    let countyNotice = RecordID.make()
    #expect(
      try await county.push(
        create(notice(audience: county.lianqiao), id: townshipNotice, unit: county.lianqiao),
        as: county.lianqiaoCommittee
      ).outcome == .applied)
    #expect(
      try await county.push(
        create(notice(audience: county.county, title: "县委通知"), id: countyNotice, unit: county.county),
        as: county.countyCommittee
      ).outcome == .applied)
    func receipt(_ notice: [UInt8]) -> Orgsync_V1_RecordBody {
      var r = Orgsync_V1_NoticeReceipt()
      r.noticeID = Data(notice)
      r.readOn = CalendarDate.make(2026, 9, 22)
      return .with { $0.noticeReceipt = r }
    }
    // 太平村 signs for both; 新民村 for neither; 双凤村 signs the county's, and cannot sign the
    // township's (not addressed to it).
    for notice in [townshipNotice, countyNotice] {
      #expect(
        try await county.push(create(receipt(notice), unit: county.taiping), as: county.taipingBranch).outcome
          == .applied)
    }
    #expect(
      try await county.push(create(receipt(countyNotice), unit: county.shuangfeng), as: county.shuangfengBranch)
        .outcome == .applied)
    let wrong = try await county.push(
      create(receipt(townshipNotice), unit: county.shuangfeng), as: county.shuangfengBranch)
    #expect(wrong.outcome == .rejected, "\(wrong.reason)")

    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let whole = try await county.store.rollUp(actor: county.countyCommittee, request: request)
    #expect(whole.total.noticesUnread == 2, "新民村: both notices")
    let township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    #expect(township.total.noticesUnread == 2, "the county's notice counts in the township's view")
    #expect(township.rows.first { $0.name == "新民村党支部" }?.noticesUnread == 2)
  }
}

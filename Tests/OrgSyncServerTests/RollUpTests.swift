import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// A roll-up over a tree built by hand, every number worked out below.
@Suite("Roll-up")
struct RollUpTests {
  static func d(_ m: Int, _ day: Int) -> Orgsync_V1_Date { CalendarDate.make(2026, m, day) }

  /// Builds the county's records for 2026 Q3 (July–September; deadline 15 October).
  static func build(_ county: County) async throws {
    let admin = Actor(deviceID: Array("admin".utf8), unitID: county.county, role: .admin)
    var mutations: [Orgsync_V1_Mutation] = []
    func add(_ body: Orgsync_V1_RecordBody, _ unit: [UInt8], id: [UInt8] = RecordID.make()) {
      mutations.append(create(body, id: id, unit: unit))
    }
    // 太平村: 3 full, 1 probationary, 1 leading cadre (full).
    for i in 0..<3 { add(member("太平\(i)"), county.taiping) }
    add(member("太平预备", status: .probationary), county.taiping)
    let cadreA = RecordID.make()
    add(member("太平书记", cadre: true), county.taiping, id: cadreA)
    // 新民村: 2 full and a leading cadre with no lecture and no liaison point.
    for i in 0..<2 { add(member("新民\(i)"), county.xinmin) }
    add(member("新民书记", cadre: true), county.xinmin)
    // 双凤村: an applicant.
    var applicant = member("双凤申请人", status: .applicant)
    applicant.member.appliedOn = d(3, 1)
    add(applicant, county.shuangfeng)

    // Reports for Q3: 太平 submitted, 新民 acknowledged, 双凤 none (a Q2 report does not count);
    // 廉桥镇 its own to the county, 流光岭镇 none.
    add(report(.submitted), county.taiping)
    add(report(.submitted), county.lianqiao)
    var acknowledged = report(.acknowledged)
    acknowledged.report.reviewerUnitID = Data(county.lianqiao)
    add(acknowledged, county.xinmin)
    var q2 = report(.submitted)
    q2.report.period = .q2
    add(q2, county.shuangfeng)

    // 太平 cadre: a lecture in May and one liaison point.
    var lecture = Orgsync_V1_Lecture()
    lecture.speakerID = Data(cadreA)
    lecture.date = d(5, 12)
    lecture.topic = "党的群众路线"
    lecture.kind = .partyLecture
    add(.with { $0.lecture = lecture }, county.taiping)
    var point = Orgsync_V1_LiaisonPoint()
    point.cadreID = Data(cadreA)
    point.since = d(1, 10)
    add(.with { $0.liaisonPoint = point }, county.xinmin)

    // Opinions: two in Q3, one in Q2.
    for date in [d(7, 3), d(9, 30), d(6, 30)] {
      var o = opinion()
      o.opinion.date = date
      add(o, county.taiping)
    }
    // Problems: resolved in Q3 after 10 and 61 days; one still open.
    for (identified, resolved) in [(d(7, 1), d(7, 11)), (d(6, 1), d(8, 1))] {
      var p = Orgsync_V1_Problem()
      p.category = .livelihood
      p.title = "村道"
      p.identifiedOn = identified
      p.status = .resolved
      p.resolvedOn = resolved
      p.resolution = "已修通"
      add(.with { $0.problem = p }, county.taiping)
    }
    var open = Orgsync_V1_Problem()
    open.category = .livelihood
    open.title = "饮水"
    open.identifiedOn = d(9, 1)
    open.status = .open
    add(.with { $0.problem = open }, county.taiping)
    // Commitments: due in Q3 and kept on time; due in Q3 and not kept; due in December.
    for (due, fulfilled) in [(d(8, 31), d(8, 30)), (d(9, 15), nil), (d(12, 31), nil)]
      as [(Orgsync_V1_Date, Orgsync_V1_Date?)]
    {
      var c = Orgsync_V1_Commitment()
      c.content = "修路"
      c.promisedOn = d(7, 1)
      c.due = due
      c.status = fulfilled == nil ? .due : .fulfilled
      if let fulfilled { c.fulfilledOn = fulfilled }
      add(.with { $0.commitment = c }, county.taiping)
    }
    // Meetings in 新民 and a service case in 双凤, in Q3.
    for day in [5, 20] {
      var m = Orgsync_V1_Meeting()
      m.date = d(8, day)
      m.kind = .branchCommittee
      m.topic = "研究工作"
      add(.with { $0.meeting = m }, county.xinmin)
    }
    var service = Orgsync_V1_ServiceCase()
    service.what = "帮助收割"
    service.date = d(9, 9)
    add(.with { $0.serviceCase = service }, county.shuangfeng)

    let results = try await county.store.push(mutations, actor: admin)
    #expect(results.allSatisfy { $0.outcome == .applied }, "\(results.map(\.reason))")
  }

  @Test("the headline counts party members — full and probationary — not applicants, the deceased or those gone")
  func partyMembers() async throws {
    let county = try await County()
    let statuses: [Orgsync_V1_MemberStatus] = [
      .full, .full, .probationary, .applicant, .activist, .developmentTarget, .deceased, .transferredOut, .left,
    ]
    for status in statuses {
      var body = member("党员\(status.rawValue)", status: status)
      switch status {
      case .applicant: body.member.appliedOn = CalendarDate.make(2025, 3, 1)
      case .activist, .developmentTarget:
        body.member.appliedOn = CalendarDate.make(2023, 3, 1)
        body.member.activistOn = CalendarDate.make(2023, 9, 1)
        if status == .developmentTarget { body.member.developmentTargetOn = CalendarDate.make(2024, 10, 1) }
      case .probationary: body.member.probationStart = CalendarDate.make(2026, 7, 1)
      default: body.member.fullMemberOn = CalendarDate.make(2001, 7, 1)
      }
      let result = try await county.push(create(body, unit: county.taiping), as: county.taipingBranch)
      #expect(result.outcome == .applied, "\(status): \(result.reason)")
    }
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let total = try await county.store.rollUp(actor: county.countyCommittee, request: request).total
    #expect(total.partyMembers == 3)
    #expect(total.inPipeline == 3)
    #expect(total.members == 9, "every record is still counted as a record")
  }

  @Test("a report that came in 43 days after the deadline stays late; one on time does not")
  func lateStaysLate() async throws {
    let county = try await County()
    var onTime = report(.submitted)
    onTime.report.submittedOn = CalendarDate.make(2026, 10, 10)
    var late = report(.submitted)
    late.report.submittedOn = CalendarDate.make(2026, 11, 27)  // Q3's deadline is 15 October
    #expect(try await county.push(create(onTime, unit: county.taiping), as: county.taipingBranch).outcome == .applied)
    #expect(try await county.push(create(late, unit: county.xinmin), as: county.xinminBranch).outcome == .applied)
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let total = try await county.store.rollUp(actor: county.countyCommittee, request: request).total
    #expect(total.reportsSubmitted == 2)
    #expect(total.reportsSubmittedLate == 1)
    #expect(total.maxDaysLate == 43)
    #expect(total.reportsLate == 3, "双凤村 has not reported at all, nor have the two townships to the county")
  }

  @Test("every figure of the county's Q3 roll-up, per township and in total")
  func figures() async throws {
    let county = try await County()
    try await Self.build(county)
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let rollUp = try await county.store.rollUp(actor: county.countyCommittee, request: request)
    #expect(rollUp.rows.map(\.name) == ["中共廉桥镇委员会", "中共流光岭镇委员会"])
    let lianqiao = rollUp.rows[0]
    #expect(lianqiao.units == 2)
    #expect(lianqiao.members == 8)
    #expect(lianqiao.membersByStatus.map(\.count) == [1, 7])  // probationary, full
    #expect(lianqiao.partyMembers == 8)
    #expect(lianqiao.leadingCadres == 2)
    #expect((lianqiao.reportsDue, lianqiao.reportsSubmitted, lianqiao.reportsAcknowledged) == (3, 3, 1))
    #expect(lianqiao.reportsLate == 0)
    #expect(lianqiao.cadresWithoutLecture == 1)
    #expect(lianqiao.cadresLiaisonOff == 1)
    #expect(lianqiao.opinions == 2)
    #expect((lianqiao.problemsOpen, lianqiao.problemsResolved) == (1, 2))
    #expect(lianqiao.medianDaysToResolve == 35.5)
    #expect(
      (lianqiao.commitmentsDue, lianqiao.commitmentsFulfilledOnTime, lianqiao.commitmentsOverdue) == (2, 1, 1))
    #expect(lianqiao.meetings == 2)
    let liuguangling = rollUp.rows[1]
    #expect(
      (liuguangling.units, liuguangling.members, liuguangling.reportsDue) == (1, 1, 2), "the village and the township")
    #expect(liuguangling.reportsSubmitted == 0)
    #expect(liuguangling.reportsLate == 2)
    #expect(Set(liuguangling.lateUnitIds) == [Data(county.shuangfeng), Data(county.liuguangling)])
    #expect(liuguangling.serviceCases == 1)
    #expect(rollUp.total.members == 9)
    #expect(rollUp.total.reportsLate == 2)
    #expect(rollUp.total.reportsDue == 5)
  }

  @Test("a township sees only its own subtree, and a branch cannot roll up its parent")
  func scope() async throws {
    let county = try await County()
    try await Self.build(county)
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    #expect(township.rows.map(\.name) == ["太平村党支部", "新民村党支部"])
    #expect(township.total.members == 8)
    request.unitID = Data(county.lianqiao)
    await #expect(throws: StoreError.self) {
      try await county.store.rollUp(actor: county.taipingBranch, request: request)
    }
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// Bad values of every record type: each is rejected with the field named, and nothing stored
/// changes.
@Suite("Validation")
struct ValidationTests {
  struct Case: Sendable, CustomStringConvertible {
    let description: String
    let field: String
    let make: @Sendable (County) -> Orgsync_V1_RecordBody
  }

  /// A date a month ahead of today (China Standard Time), whenever the tests run.
  static var nextMonth: Orgsync_V1_Date {
    CalendarDate.today(now: Date().addingTimeInterval(31 * 86_400))
  }

  static let cases: [Case] = [
    Case(description: "member without a name", field: "name") { _ in member("  ") },
    Case(description: "member with an impossible birth date", field: "birth_date") { _ in
      var body = member("李秀兰")
      body.member.birthDate = CalendarDate.make(1990, 2, 30)
      return body
    },
    Case(description: "member status outside the closed set", field: "status") { _ in
      var body = member("李秀兰")
      body.member.status = .UNRECOGNIZED(42)
      return body
    },
    Case(description: "applicant younger than 18", field: "applied_on") { _ in
      var body = member("张小龙", status: .applicant)
      body.member.birthDate = CalendarDate.make(2010, 5, 1)
      body.member.appliedOn = CalendarDate.make(2026, 5, 1)
      return body
    },
    Case(description: "meeting without a topic", field: "topic") { _ in
      var m = Orgsync_V1_Meeting()
      m.date = CalendarDate.make(2026, 9, 1)
      m.kind = .branchGeneral
      var body = Orgsync_V1_RecordBody()
      body.meeting = m
      return body
    },
    Case(description: "meeting with a negative attendance", field: "attendee_count") { _ in
      var m = Orgsync_V1_Meeting()
      m.date = CalendarDate.make(2026, 9, 1)
      m.kind = .branchGeneral
      m.topic = "学习党章"
      m.attendeeCount = -3
      var body = Orgsync_V1_RecordBody()
      body.meeting = m
      return body
    },
    Case(description: "a lecture dated next month (not given yet)", field: "date") { _ in
      var l = Orgsync_V1_Lecture()
      l.speakerName = "王书记"
      l.topic = "密切联系群众"
      l.kind = .partyLecture
      l.date = Self.nextMonth
      return .with { $0.lecture = l }
    },
    Case(description: "a meeting dated next month (not held yet)", field: "date") { _ in
      var m = Orgsync_V1_Meeting()
      m.date = Self.nextMonth
      m.kind = .branchGeneral
      m.topic = "学习党章"
      return .with { $0.meeting = m }
    },
    Case(description: "quarterly check filed for a half-year", field: "period") { _ in
      var body = report(.draft)
      body.report.period = .h1
      return body
    },
    Case(description: "report for the year 1850", field: "year") { _ in
      var body = report(.draft)
      body.report.year = 1850
      return body
    },
    Case(description: "notice to a unit that does not exist", field: "audience_root_id") { _ in
      notice(audience: RecordID.make())
    },
    Case(description: "liaison point of a cadre that does not exist", field: "cadre_id") { _ in
      var l = Orgsync_V1_LiaisonPoint()
      l.cadreID = Data(RecordID.make())
      l.since = CalendarDate.make(2026, 1, 1)
      var body = Orgsync_V1_RecordBody()
      body.liaisonPoint = l
      return body
    },
    Case(description: "lecture with no speaker", field: "speaker_name") { _ in
      var l = Orgsync_V1_Lecture()
      l.date = CalendarDate.make(2026, 6, 30)
      l.topic = "党的群众路线"
      l.kind = .partyLecture
      var body = Orgsync_V1_RecordBody()
      body.lecture = l
      return body
    },
    Case(description: "support item with a negative amount", field: "amount_fen") { _ in
      var s = Orgsync_V1_SupportItem()
      s.what = "办公桌椅"
      s.amountFen = -100
      s.date = CalendarDate.make(2026, 4, 2)
      var body = Orgsync_V1_RecordBody()
      body.supportItem = s
      return body
    },
    Case(description: "opinion dated in the future", field: "date") { _ in
      var body = opinion()
      body.opinion.date = CalendarDate.make(2199, 1, 1)
      return body
    },
    Case(description: "opinion with a control character", field: "content") { _ in opinion("村道\u{07}失修") },
    Case(description: "resolved problem with no resolution", field: "resolution") { _ in
      var p = Orgsync_V1_Problem()
      p.category = .livelihood
      p.title = "村道失修"
      p.status = .resolved
      p.identifiedOn = CalendarDate.make(2026, 7, 10)
      p.resolvedOn = CalendarDate.make(2026, 8, 10)
      var body = Orgsync_V1_RecordBody()
      body.problem = p
      return body
    },
    Case(description: "problem linking an opinion that does not exist", field: "opinion_ids") { _ in
      var p = Orgsync_V1_Problem()
      p.category = .livelihood
      p.title = "村道失修"
      p.status = .open
      p.identifiedOn = CalendarDate.make(2026, 7, 10)
      p.opinionIds = [Data(RecordID.make())]
      var body = Orgsync_V1_RecordBody()
      body.problem = p
      return body
    },
    Case(description: "commitment due before it was made", field: "due") { _ in
      var c = Orgsync_V1_Commitment()
      c.content = "年底前修通村道"
      c.promisedOn = CalendarDate.make(2026, 7, 1)
      c.due = CalendarDate.make(2026, 6, 1)
      c.status = .due
      var body = Orgsync_V1_RecordBody()
      body.commitment = c
      return body
    },
    Case(description: "service case with an overlong description", field: "what") { _ in
      var s = Orgsync_V1_ServiceCase()
      s.what = String(repeating: "修", count: 501)
      s.date = CalendarDate.make(2026, 8, 1)
      var body = Orgsync_V1_RecordBody()
      body.serviceCase = s
      return body
    },
    Case(description: "inspection issued by the inspected unit itself", field: "issuer_unit_id") { county in
      var i = Orgsync_V1_Inspection()
      i.issuerUnitID = Data(county.taiping)
      i.date = CalendarDate.make(2026, 9, 1)
      i.findings = "材料齐全"
      var body = Orgsync_V1_RecordBody()
      body.inspection = i
      return body
    },
  ]

  @Test("a bad value is rejected with its field, and the store is unchanged", arguments: cases)
  func rejected(_ testCase: Case) async throws {
    let county = try await County()
    let before = try await county.store.digest(actor: county.countyCommittee, types: [])
    let mutation = create(testCase.make(county), unit: county.taiping)
    // Inspections are issued by committees; everything else by the branch.
    let actor = mutation.type == .inspection ? county.lianqiaoCommittee : county.taipingBranch
    let result = try await county.push(mutation, as: actor)
    #expect(result.outcome == .rejected)
    #expect(result.field == testCase.field, "\(result.reason)")
    #expect(!result.reason.isEmpty)
    let after = try await county.store.digest(actor: county.countyCommittee, types: [])
    #expect(after.types == before.types)
    #expect(try await county.store.record(id: Array(mutation.recordID), actor: county.countyCommittee) == nil)
  }

  @Test("a rejected mutation does not stop the rest of its batch")
  func batchGoesOn() async throws {
    let county = try await County()
    let good1 = create(member("刘德华"), unit: county.taiping)
    let bad = create(member(""), unit: county.taiping)
    let good2 = create(opinion(), unit: county.taiping)
    let results = try await county.store.push([good1, bad, good2], actor: county.taipingBranch)
    #expect(results.map(\.outcome) == [.applied, .rejected, .applied])
    let pulled = try await county.pullAll(county.taipingBranch)
    #expect(pulled.changes.liveIDs.isSuperset(of: [good1.recordID, good2.recordID]))
    #expect(!pulled.changes.liveIDs.contains(bad.recordID))
  }

  @Test("a body that is not a protobuf message is rejected, not stored")
  func malformedIDs() async throws {
    let county = try await County()
    var short = create(member("周杰"), unit: county.taiping)
    short.recordID = Data([1, 2, 3])
    var wrongType = create(member("周杰"), unit: county.taiping)
    wrongType.type = .meeting
    var noUnit = create(member("周杰"), unit: RecordID.make())
    noUnit.hlc = 1
    let results = try await county.store.push([short, wrongType, noUnit], actor: county.taipingBranch)
    #expect(results.map(\.outcome) == [.rejected, .rejected, .rejected])
    #expect(results.map(\.field) == ["record_id", "body", "unit_id"])
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import Testing

@Suite("Member code lists and dues bands")
struct MemberCodesTests {
  @Test("monthly dues follow the income bands of the 2008 rules, rounded to the fen")
  func bands() {
    #expect(Dues.monthlyFen(category: .salaried, base: 300_000) == 1_500)  // 3,000 yuan: 0.5 %
    #expect(Dues.monthlyFen(category: .salaried, base: 300_001) == 3_000)  // just over: 1 %
    #expect(Dues.monthlyFen(category: .salaried, base: 800_000) == 12_000)  // 1.5 %
    #expect(Dues.monthlyFen(category: .salaried, base: 1_200_000) == 24_000)  // 2 %
    #expect(Dues.monthlyFen(category: .retired, base: 500_000) == 2_500)
    #expect(Dues.monthlyFen(category: .retired, base: 600_000) == 6_000)
    #expect(Dues.monthlyFen(category: .farmer, base: 0) == 20)
    #expect(Dues.monthlyFen(category: .lowIncome, base: 900_000) == 20)
    #expect(Dues.monthlyFen(category: .exempt, base: 900_000) == 0)
    #expect(Dues.months(from: 202511, to: 202602) == 4)
    #expect(Dues.adding(-1, to: 202601) == 202512)
  }

  @Test("ethnicity names one of the 56 nationalities, with or without 族")
  func ethnicity() {
    #expect(Ethnicity.names.count == 58)
    #expect(Ethnicity.code(of: "汉族") == 1 && Ethnicity.code(of: "汉") == 1)
    #expect(Ethnicity.code(of: "土家族") == 15 && Ethnicity.standardName("土家") == "土家族")
    #expect(Ethnicity.code(of: "基诺族") == 56)
    #expect(Ethnicity.code(of: "Han") == nil)
  }

  @Test("a member's ethnicity outside the list is refused with the field named")
  func refused() async throws {
    let county = try await County()
    var m = member("马丽")
    m.member.ethnicity = "汉人"
    let result = try await county.push(create(m, unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "ethnicity", "\(result.reason)")
    m.member.ethnicity = "回族"
    #expect(try await county.push(create(m, unit: county.taiping), as: county.taipingBranch).outcome == .applied)
  }
}

@Suite("The 三会一课 standard, per unit kind")
struct LifeStandardTests {
  static func builder(kind: Orgsync_V1_UnitKind) -> RollUpBuilder {
    let county = RecordID.make()
    let village = RecordID.make()
    // Q3 2026 over, as of 27 November: the whole quarter is owed.
    var builder = RollUpBuilder(root: county, year: 2026, period: .q3, today: CalendarDate.make(2026, 11, 27))
    var root = Orgsync_V1_OrgUnit()
    root.name = "县委"
    root.code = "430521"
    root.level = .county
    root.kind = .committee
    builder.addUnit(id: county, unit: root)
    var unit = Orgsync_V1_OrgUnit()
    unit.name = "村"
    unit.code = "430521-100-001"
    unit.level = .grassroots
    unit.kind = kind
    unit.parentID = Data(county)
    builder.addUnit(id: village, unit: unit)
    // Held in Q3: one general meeting, three committee meetings, three party group meetings, one lecture.
    for (kind, month) in [(Orgsync_V1_MeetingKind.branchGeneral, 8)]
      + (7...9).flatMap({ [(Orgsync_V1_MeetingKind.branchCommittee, $0), (.partyGroup, $0)] })
    {
      var m = Orgsync_V1_Meeting()
      m.kind = kind
      m.date = CalendarDate.make(2026, month, 10)
      m.topic = "学习"
      builder.add(type: .meeting, id: RecordID.make(), unitID: village, bytes: try! m.serializedBytes())
    }
    var lecture = Orgsync_V1_Lecture()
    lecture.date = CalendarDate.make(2026, 9, 1)
    lecture.topic = "党课"
    builder.add(type: .lecture, id: RecordID.make(), unitID: village, bytes: try! lecture.serializedBytes())
    return builder
  }

  @Test("a branch meeting the regulations' standard is not behind; a stricter office standard names it")
  func configurable() throws {
    var builder = Self.builder(kind: .branch)
    _ = builder.build()
    #expect(builder.named().behindSchedule.isEmpty)
    // The office asks for a general meeting every month: one held of three owed.
    builder.lifeStandard = try LifeStandard.load(
      json: Array(#"{"branch": {"branch_general": 1, "branch_committee": 1, "party_group": 1, "lectures": 3}}"#.utf8))
    let behind = builder.named().behindSchedule
    #expect(behind.count == 1)
    #expect(behind.first?.held.branchGeneral == 1 && behind.first?.owed.branchGeneral == 3)
  }

  @Test("a general branch owes no general meeting of its own; a party group only its monthly meeting")
  func byKind() {
    let standard = LifeStandard.standard
    #expect(standard.owed(months: 3, kind: .generalBranch) == OrganisationalLife(branchCommittee: 3, lectures: 1))
    #expect(standard.owed(months: 3, kind: .partyGroup) == OrganisationalLife(partyGroup: 3))
    #expect(
      standard.owed(months: 3, kind: .branch)
        == OrganisationalLife(branchGeneral: 1, branchCommittee: 3, partyGroup: 3, lectures: 1))
  }

  @Test("an office standard with an unknown kind or a frequency past a year is refused, naming it")
  func refused() {
    #expect(throws: LifeStandardError.self) {
      try LifeStandard.load(
        json: Array(#"{"village": {"branch_general": 3, "branch_committee": 1, "party_group": 1, "lectures": 3}}"#.utf8)
      )
    }
    #expect(throws: LifeStandardError.self) {
      try LifeStandard.load(
        json: Array(#"{"branch": {"branch_general": 13, "branch_committee": 1, "party_group": 1, "lectures": 3}}"#.utf8)
      )
    }
    #expect(throws: LifeStandardError.self) { try LifeStandard.load(json: Array("not json".utf8)) }
  }
}

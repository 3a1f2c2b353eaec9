import Foundation
import OrgSyncCore
import OrgSyncProto
import Testing

@Suite("Year-end statistics")
struct YearEndStatisticsTests {
  static func person(
    _ status: Orgsync_V1_MemberStatus, born: Orgsync_V1_Date, gender: Orgsync_V1_Gender = .male,
    ethnicity: String = "汉族", education: Orgsync_V1_Education = .seniorHigh, probation: Orgsync_V1_Date? = nil,
    full: Orgsync_V1_Date? = nil, applied: Orgsync_V1_Date? = nil
  ) -> Orgsync_V1_Member {
    var m = Orgsync_V1_Member()
    m.name = "某"
    m.status = status
    m.birthDate = born
    m.gender = gender
    m.ethnicity = ethnicity
    m.education = education
    if let probation { m.probationStart = probation }
    if let full { m.fullMemberOn = full }
    if let applied { m.appliedOn = applied }
    return m
  }

  @Test("hand-checked tallies as of 31 December: who counts, age on that day, join bands, the year's movement")
  func handChecked() {
    let members = [
      // 30 on 31 December 2026 exactly: the youngest band.
      Self.person(.full, born: d(1996, 12, 31), gender: .female, probation: d(2019, 6, 1), full: d(2020, 6, 1)),
      // 31 on 1 January 2027, so still 30 on 31 December.
      Self.person(.full, born: d(1996, 1, 1), ethnicity: "土家族", education: .bachelor, probation: d(2010, 5, 1)),
      // Admitted this year: counted, and counted as developed this year.
      Self.person(.probationary, born: d(1990, 3, 3), probation: d(2026, 7, 1), applied: d(2024, 1, 5)),
      // Admitted next year: not a member on 31 December 2026.
      Self.person(.probationary, born: d(1992, 3, 3), probation: d(2027, 1, 15)),
      // A veteran with no dates: a full member, join time unknown.
      Self.person(.full, born: d(1940, 8, 1)),
      // An activist and the dead are not members.
      Self.person(.activist, born: d(2000, 2, 2), applied: d(2026, 2, 1)),
      Self.person(.deceased, born: d(1930, 1, 1)),
      // Died this year, with the date: counted among the year's deaths as well.
      { () -> Orgsync_V1_Member in
        var m = Self.person(.deceased, born: d(1936, 4, 4))
        m.endedOn = d(2026, 2, 14)
        return m
      }(),
    ]
    let stats = YearEndStatistics(members: members, year: 2026)
    func count(_ table: String, _ row: String) -> Int? {
      stats.lines.first { $0.table == table && $0.row == row }?.count
    }
    #expect(count("党员总数", "正式党员") == 3)
    #expect(count("党员总数", "预备党员") == 1)
    #expect(count("性别", "女") == 1 && count("性别", "男") == 3)
    #expect(count("民族", "汉族") == 3 && count("民族", "少数民族") == 1)
    #expect(count("少数民族构成", "土家族") == 1)
    #expect(count("职业", "未填") == 4, "no occupation class given")
    #expect(count("年龄（截至12月31日）", "30岁及以下") == 2)
    #expect(count("年龄（截至12月31日）", "36至40岁") == 1)  // born 1990-03-03: 36
    #expect(count("年龄（截至12月31日）", "61岁及以上") == 1)
    #expect(count("学历", "大学本科") == 1 && count("学历", "高中、中专") == 3)
    #expect(count("入党时间", "2012年11月至2022年10月") == 1)
    #expect(count("入党时间", "2002年11月至2012年10月") == 1)
    #expect(count("入党时间", "2022年11月以后") == 1)
    #expect(count("入党时间", "未填") == 1)
    #expect(count("本年变动", "发展党员（接收为预备党员）") == 1)
    #expect(count("本年变动", "递交入党申请") == 1)
    #expect(count("本年变动", "已故（现状）") == 2)
    #expect(count("本年变动", "死亡（本年）") == 1)
    // Every table adds up to the members counted.
    for table in ["性别", "民族", "年龄（截至12月31日）", "学历", "入党时间", "职业"] {
      #expect(stats.lines.filter { $0.table == table }.map(\.count).reduce(0, +) == 4, "\(table)")
    }
  }
}

@Suite("Units that did not exist in a period")
struct UnitLifetimeTests {
  @Test("a village founded after Q3 or dissolved before it owes no Q3 report and is not named late")
  func foundedAndDissolved() {
    let county = RecordID.make()
    let township = RecordID.make()
    func unit(_ name: String, _ code: String, _ level: Orgsync_V1_UnitLevel, parent: [UInt8]) -> Orgsync_V1_OrgUnit {
      var u = Orgsync_V1_OrgUnit()
      u.name = name
      u.code = code
      u.level = level
      u.parentID = Data(parent)
      return u
    }
    // Rolled up at the township (its own report goes to the county, outside this subtree).
    var builder = RollUpBuilder(root: township, year: 2026, period: .q3, today: CalendarDate.make(2026, 11, 27))
    builder.addUnit(id: county, unit: unit("县委", "1", .county, parent: []))
    builder.addUnit(id: township, unit: unit("镇党委", "1-1", .township, parent: county))
    let old = RecordID.make()
    builder.addUnit(id: old, unit: unit("老村", "1-1-1", .grassroots, parent: township))
    var founded = unit("新村", "1-1-2", .grassroots, parent: township)
    founded.foundedOn = CalendarDate.make(2026, 11, 1)
    builder.addUnit(id: RecordID.make(), unit: founded)
    var merged = unit("并村", "1-1-3", .grassroots, parent: township)
    merged.foundedOn = CalendarDate.make(2001, 1, 1)
    merged.dissolvedOn = CalendarDate.make(2026, 3, 31)
    builder.addUnit(id: RecordID.make(), unit: merged)
    let rollUp = builder.build()
    #expect(rollUp.total.reportsDue == 1)
    #expect(rollUp.total.units == 1)
    #expect(rollUp.total.lateUnitIds == [Data(old)], "only the village that existed is late")
  }
}

@Suite("Follow-ups named by the roll-up")
struct FollowUpTests {
  @Test("inspections past their follow-up date and not done are named; promises kept after their date are named")
  func followUps() throws {
    let county = RecordID.make()
    let village = RecordID.make()
    var root = Orgsync_V1_OrgUnit()
    root.name = "县委"
    root.code = "1"
    root.level = .county
    var branch = Orgsync_V1_OrgUnit()
    branch.name = "村支部"
    branch.code = "1-1"
    branch.level = .grassroots
    branch.parentID = Data(county)
    var builder = RollUpBuilder(root: county, year: 2026, period: .q3, today: CalendarDate.make(2026, 11, 27))
    builder.addUnit(id: county, unit: root)
    builder.addUnit(id: village, unit: branch)
    func add(_ body: Orgsync_V1_RecordBody) throws -> [UInt8] {
      let id = RecordID.make()
      builder.add(type: RecordKinds.type(of: body), id: id, unitID: village, bytes: RecordKinds.bytes(of: body))
      return id
    }
    func inspection(due: Orgsync_V1_Date, done: Orgsync_V1_Date?) -> Orgsync_V1_RecordBody {
      var i = Orgsync_V1_Inspection()
      i.issuerUnitID = Data(county)
      i.date = CalendarDate.make(2026, 8, 1)
      i.findings = "台账不全"
      i.followUpDue = due
      if let done { i.followUpDone = done }
      var body = Orgsync_V1_RecordBody()
      body.inspection = i
      return body
    }
    func promise(due: Orgsync_V1_Date, kept: Orgsync_V1_Date) -> Orgsync_V1_RecordBody {
      var c = Orgsync_V1_Commitment()
      c.content = "修通村道"
      c.promisedOn = CalendarDate.make(2026, 3, 1)
      c.due = due
      c.status = .fulfilled
      c.fulfilledOn = kept
      var body = Orgsync_V1_RecordBody()
      body.commitment = c
      return body
    }
    let overdue = try add(inspection(due: CalendarDate.make(2026, 10, 31), done: nil))
    _ = try add(inspection(due: CalendarDate.make(2026, 10, 31), done: CalendarDate.make(2026, 10, 20)))
    _ = try add(inspection(due: CalendarDate.make(2026, 12, 31), done: nil))  // not yet due
    let late = try add(promise(due: CalendarDate.make(2026, 8, 31), kept: CalendarDate.make(2026, 9, 20)))
    _ = try add(promise(due: CalendarDate.make(2026, 8, 31), kept: CalendarDate.make(2026, 8, 30)))
    let rollUp = builder.build()
    let named = builder.named()
    #expect(named.overdueInspections == [overdue])
    #expect(named.keptLate == [late])
    #expect(rollUp.total.commitmentsDue == 2 && rollUp.total.commitmentsFulfilledOnTime == 1)
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncSample
import Testing

/// The generated county looks like a Hunan county's books, and every record in it passes the
/// rules a real office's records must pass.
@Suite("The sample county")
struct SampleCountyTests {
  static let sample: SampleCounty = {
    var options = SampleCounty.Options()
    options.townships = 4
    options.villagesPerTownship = 6
    options.membersPerVillage = 40
    return SampleCounty(options: options)
  }()

  static func age(_ m: Orgsync_V1_Member, on d: Orgsync_V1_Date) -> Int {
    var years = Int(d.year - m.birthDate.year)
    if (d.month, d.day) < (m.birthDate.month, m.birthDate.day) { years -= 1 }
    return years
  }

  @Test(
    "village members: older, mostly school-educated farmers, no postgraduates; nobody joined before 18; cadres of plausible age"
  )
  func distributions() throws {
    let members = Self.sample.records.filter { $0.type == .member }.map(\.body.member)
    let villagers = members.filter { !$0.leadingCadre }
    let cadres = members.filter(\.leadingCadre)
    #expect(villagers.count == 4 * 6 * 40 && cadres.count == 12 + 4 * 3)
    #expect(villagers.allSatisfy { $0.education != .postgraduate })
    let graduates = villagers.filter { $0.education == .bachelor }.count
    #expect(Double(graduates) / Double(villagers.count) < 0.1, "\(graduates) graduates")
    let over60 = villagers.filter { Self.age($0, on: CalendarDate.make(2026, 12, 31)) > 60 }.count
    #expect(Double(over60) / Double(villagers.count) > 0.3, "village branches are old: \(over60)")
    let farmers = villagers.filter { $0.occupationCode == .farmer }.count
    #expect(Double(farmers) / Double(villagers.count) > 0.4)
    for m in members where m.probationStart.year != 0 {
      #expect(Self.age(m, on: m.probationStart) >= 18, "\(m.name) admitted at \(Self.age(m, on: m.probationStart))")
    }
    #expect(cadres.allSatisfy { Self.age($0, on: CalendarDate.make(2026, 11, 27)) >= 30 })
    #expect(
      cadres.filter { $0.cadreTitle == "县委常委" }.allSatisfy { Self.age($0, on: CalendarDate.make(2026, 11, 27)) >= 40 })
    #expect(members.allSatisfy { $0.ethnicity.isEmpty || Ethnicity.code(of: $0.ethnicity) != nil })
    // Probationary members are mostly within their year.
    let probationary = members.filter { $0.status == .probationary }
    let overdue = probationary.filter {
      var due = $0.probationStart
      due.year += 1
      return CalendarDate.compare(due, CalendarDate.make(2026, 11, 27)) <= 0
    }
    #expect(
      !probationary.isEmpty && overdue.count * 2 < probationary.count, "\(overdue.count) of \(probationary.count)")
  }

  @Test("reports are submitted after their quarter ends; liaison points are kept by the cadre's committee")
  func dates() throws {
    for m in Self.sample.records where m.type == .report {
      let r = m.body.report
      let (_, end) = RollUpBuilder.range(year: r.year, period: r.period)
      #expect(
        CalendarDate.compare(r.submittedOn, end) > 0, "\(r.title) submitted \(CalendarDate.string(r.submittedOn))")
    }
    let committees = Set([Self.sample.countyID] + Self.sample.townshipIDs)
    let points = Self.sample.records.filter { $0.type == .liaisonPoint }
    #expect(!points.isEmpty)
    #expect(points.allSatisfy { committees.contains(Array($0.unitID)) && !$0.body.liaisonPoint.villageUnitID.isEmpty })
  }
}

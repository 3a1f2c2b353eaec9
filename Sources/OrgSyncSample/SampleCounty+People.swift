import Foundation
import OrgSyncCore
import OrgSyncProto

/// The sample's people and their year in the party's books: members with realistic
/// distributions, dues, the assessment loop and the odd transfer.
extension SampleCounty {
  /// A village party member or someone in the pipeline, with the distributions of a Hunan
  /// county's village branches: older members (a quarter past 65), mostly junior and senior
  /// high school, mostly farmers, a few minority nationalities; stage dates consistent with
  /// the age rules; probationary members mostly within their year; dues by occupation.
  static func member(rng: inout SplitMix64, year: Int32, throughMonth: Int = 10) -> Orgsync_V1_RecordBody {
    var m = Orgsync_V1_Member()
    m.name = personName(rng: &rng)
    m.gender = rng.int(0...9) < 7 ? .male : .female
    let ageRoll = rng.int(0...99)
    let age =
      ageRoll < 12
      ? rng.int(25...35)
      : ageRoll < 27
        ? rng.int(36...45) : ageRoll < 49 ? rng.int(46...55) : ageRoll < 72 ? rng.int(56...65) : rng.int(66...85)
    let born = Int(year) - age
    m.birthDate = CalendarDate.make(born, rng.int(1...12), rng.int(1...28))
    let minority = ["土家族", "苗族", "瑶族", "回族"]
    m.ethnicity = rng.int(0...99) < 96 ? "汉族" : minority[rng.int(0...(minority.count - 1))]
    let schooling = rng.int(0...99)
    m.education =
      age >= 66
      ? (schooling < 45 ? .primary : schooling < 85 ? .juniorHigh : .seniorHigh)
      : (schooling < 10
        ? .primary
        : schooling < 50 ? .juniorHigh : schooling < 80 ? .seniorHigh : schooling < 94 ? .college : .bachelor)
    let job = rng.int(0...99)
    let (occupation, code): (String, Orgsync_V1_Occupation) =
      age >= 66 && job < 30
      ? ("退休干部", .retired)
      : job < 62
        ? (["农民", "养殖户", "外出务工"][job % 3], .farmer)
        : job < 72
          ? ("企业职工", .worker)
          : job < 80
            ? ("个体工商户", .other)
            : job < 88
              ? ("村干部", .other)
              : job < 94
                ? ("教师", .professional)
                : ("村医", .professional)
    m.occupation = occupation
    m.occupationCode = code
    switch code {
    case .farmer, .other:
      m.duesCategory = .farmer
      m.duesBaseFen = Int64([20, 50, 100][rng.int(0...2)])
    case .retired:
      m.duesCategory = .retired
      m.duesBaseFen = Int64(rng.int(180_000...420_000))
    default:
      m.duesCategory = .salaried
      m.duesBaseFen = Int64(rng.int(250_000...650_000))
    }
    let roll = rng.int(0...99)
    m.status = roll < 88 || age > 55 ? .full : roll < 93 ? .probationary : roll < 97 ? .activist : .applicant
    // Months before the generated period's end, as a date in or before `year`.
    func monthsBack(_ n: Int) -> Orgsync_V1_Date {
      let index = Int(year) * 12 + throughMonth - 1 - n
      return CalendarDate.make(index / 12, index % 12 + 1, rng.int(1...28))
    }
    switch m.status {
    case .full:
      // Joined between 20 and 45, at least two years ago.
      let joined = min(Int(year) - 2, born + rng.int(20...45))
      m.probationStart = CalendarDate.make(joined, rng.int(1...12), rng.int(1...28))
      m.fullMemberOn = CalendarDate.make(joined + 1, Int(m.probationStart.month), Int(m.probationStart.day))
    case .probationary:
      // Within the year (a branch that lets one run over is made by the caller).
      m.probationStart = monthsBack(rng.int(1...11))
      m.developmentTargetOn = monthsBack(
        Int(Dues.months(from: Dues.month(m.probationStart), to: Dues.month(monthsBack(0)))) + 3)
      m.activistOn = CalendarDate.make(Int(m.developmentTargetOn.year) - 1, Int(m.developmentTargetOn.month), 1)
      m.appliedOn = CalendarDate.make(Int(m.activistOn.year) - 1, rng.int(1...12), rng.int(1...28))
    case .activist:
      m.activistOn = monthsBack(rng.int(2...20))
      m.appliedOn = CalendarDate.make(Int(m.activistOn.year) - 1, rng.int(1...12), rng.int(1...28))
    default:
      m.appliedOn = monthsBack(rng.int(1...10))
    }
    var body = Orgsync_V1_RecordBody()
    body.member = m
    return body
  }

  /// Dues payments (in a quarter of the villages, which keep their dues ledger here), the
  /// assessment loop, and a transfer in transit now and then.
  func addLifecycle(
    village: [UInt8], index: Int, members: [([UInt8], Orgsync_V1_Member)], year: Int32, months: Int,
    rng: inout SplitMix64, add: (Orgsync_V1_RecordBody, [UInt8], [UInt8]?) -> [UInt8]
  ) {
    let partyMembers = members.filter { [.full, .probationary].contains($0.1.status) }
    let lastPaid = Int32(year) * 100 + Int32(max(1, months - 1))
    if index % 4 == 0 {
      for (id, m) in partyMembers {
        // Most pay up to last month; one in ten stopped in spring.
        let through = rng.int(0...9) == 0 ? Int32(year) * 100 + 3 : lastPaid
        var p = Orgsync_V1_DuesPayment()
        p.memberID = Data(id)
        p.fromMonth = Int32(year) * 100 + 1
        p.toMonth = through
        p.amountFen = Dues.monthlyFen(m) * Int64(Dues.months(from: p.fromMonth, to: through))
        p.paidOn = CalendarDate.make(Int(year), Int(through % 100), 28)
        p.receiptNo = "DF\(year)-\(index)-\(rng.int(1000...9999))"
        _ = add(.with { $0.duesPayment = p }, village, nil)
      }
    }
    func assessment(_ kind: Orgsync_V1_AssessmentKind, _ change: (inout Orgsync_V1_Assessment) -> Void) {
      var a = Orgsync_V1_Assessment()
      a.kind = kind
      a.year = Int32(year)
      a.date = CalendarDate.make(Int(year), rng.int(1...max(1, months)), rng.int(1...28))
      change(&a)
      _ = add(.with { $0.assessment = a }, village, nil)
    }
    guard let secretary = partyMembers.first else { return }
    assessment(.yearTarget) {
      $0.date = CalendarDate.make(Int(year), 1, 15)
      $0.content = "全年为群众办实事10件以上"
      if rng.int(0...2) > 0 { $0.completedOn = CalendarDate.make(Int(year), max(1, months - 1), 20) }
    }
    assessment(.publicPledge) {
      $0.memberID = Data(secretary.0)
      $0.content = "带头发展产业，帮助5户群众增收"
      $0.place = ["村务公开栏", "党员大会", "党员承诺栏"][rng.int(0...2)]
    }
    assessment(.leaderReview) {
      $0.content = "承诺具体可行，群众认可度较高，兑现进度需加快。"
      $0.reviewer = "镇党委书记"
    }
    assessment(.pairing) {
      $0.memberID = Data(partyMembers[rng.int(0...(partyMembers.count - 1))].0)
      $0.partner = "困难户" + Self.personName(rng: &rng)
      $0.content = "每月走访一次，帮助落实产业帮扶资金"
    }
    if months >= 6 {
      assessment(.starRating) { $0.stars = Int32([3, 4, 4, 5, 3, 2][rng.int(0...5)]) }
    }
    if index % 8 == 0 {
      for (id, _) in partyMembers {
        let roll = rng.int(0...99)
        assessment(.democraticReview) {
          $0.memberID = Data(id)
          $0.grade = roll < 20 ? .excellent : roll < 96 ? .competent : roll < 99 ? .basicallyCompetent : .incompetent
          $0.participants = Int32(rng.int(30...60))
          $0.satisfied = $0.participants - Int32(rng.int(0...5))
        }
      }
    }
    // A member leaving for work in the city: the letter issued last month, not yet answered.
    if index % 24 == 7, let leaving = partyMembers.last {
      var t = Orgsync_V1_Transfer()
      t.memberID = Data(leaving.0)
      t.memberName = leaving.1.name
      t.toUnitCode = "430521"
      t.toUnitName = "中共邵东县委员会组织部"
      t.letterNo = "邵组转〔\(year)〕\(index)号"
      t.reason = "外出务工，转县流动党员党支部"
      t.issuedOn = CalendarDate.make(Int(year), max(1, months - 1), 10)
      t.status = .issued
      _ = add(.with { $0.transfer = t }, village, nil)
    }
  }
}

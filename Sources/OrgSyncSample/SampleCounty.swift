import Foundation
import OrgSyncCore
import OrgSyncProto

/// A generated county for demos and benchmarks: county committee → townships → village
/// branches, their members and leading cadres, and a year of campaign activity. The same seed
/// always makes the same county.
public struct SampleCounty: Sendable {
  public struct Options: Sendable, Hashable {
    public var seed: UInt64 = 2026
    public var townships = 20
    public var villagesPerTownship = 24
    public var membersPerVillage = 40
    public var year: Int32 = 2026
    /// Activity up to this month (1–12).
    public var throughMonth = 10
    /// Generate the year's activity (meetings, reports, opinions…); off: units and members only.
    public var activity = true

    public init() {}
  }

  /// Units, parents before children.
  public var units: [(id: [UInt8], unit: Orgsync_V1_OrgUnit)] = []
  /// Everything else, as creates in an order that satisfies references.
  public var records: [Orgsync_V1_Mutation] = []
  public var countyID: [UInt8] = []
  public var townshipIDs: [[UInt8]] = []
  public var villageIDs: [[UInt8]] = []

  public init(options: Options = Options()) {
    var rng = SplitMix64(seed: options.seed)
    var hlc = UInt64(1_767_225_600_000) << 16  // 2026-01-01
    func stamp() -> UInt64 {
      hlc += 1
      return hlc
    }
    func id() -> [UInt8] { rng.bytes(16, version7: true) }
    func add(_ body: Orgsync_V1_RecordBody, unit: [UInt8], recordID: [UInt8]? = nil) -> [UInt8] {
      let recordID = recordID ?? id()
      var m = Orgsync_V1_Mutation()
      m.mutationID = Data(id())
      m.recordID = Data(recordID)
      m.type = RecordKinds.type(of: body)
      m.unitID = Data(unit)
      m.body = body
      m.hlc = stamp()
      records.append(m)
      return recordID
    }
    let year = options.year
    func date(month: Int, day: Int) -> Orgsync_V1_Date { CalendarDate.make(Int(year), month, min(day, 28)) }
    func anyDate(upTo month: Int) -> Orgsync_V1_Date {
      date(month: rng.int(1...max(1, month)), day: rng.int(1...28))
    }

    // Hierarchy.
    countyID = id()
    units.append((countyID, Self.unit("430521", "中共邵東縣委員會", .county, .committee, parent: nil, rng: &rng)))
    for t in 0..<options.townships {
      let township = id()
      townshipIDs.append(township)
      let name = Self.townshipNames[t % Self.townshipNames.count] + (t >= Self.townshipNames.count ? "\(t)" : "")
      units.append(
        (
          township,
          Self.unit(
            "430521-\(100 + t)", "中共\(name)鎮委員會", .township, .committee, parent: countyID, rng: &rng)
        ))
      for v in 0..<options.villagesPerTownship {
        let village = id()
        villageIDs.append(village)
        let villageName = Self.villageNames[(t * 7 + v) % Self.villageNames.count]
        units.append(
          (
            village,
            Self.unit(
              String(format: "430521-%d-%03d", 100 + t, v + 1), "\(name)鎮\(villageName)村黨支部", .grassroots, .branch,
              parent: township, rng: &rng)
          ))
      }
    }

    // Cadres of the county and the townships, with their liaison points and lectures.
    var cadres: [(id: [UInt8], name: String, unit: [UInt8])] = []
    for (unit, count) in [(countyID, 12)] + townshipIDs.map({ ($0, 3) }) {
      for _ in 0..<count {
        var body = Self.member(rng: &rng, year: year)
        body.member.leadingCadre = true
        if body.member.status != .full {
          body.member.status = .full
          body.member.fullMemberOn = CalendarDate.make(Int(year) - 10, 7, 1)
          body.member.clearProbationStart()
          body.member.clearAppliedOn()
        }
        body.member.cadreTitle = unit == countyID ? "縣委常委" : "鎮黨委委員"
        let cadreID = add(body, unit: unit)
        cadres.append((cadreID, body.member.name, unit))
      }
    }

    // Village branches: members and a year of work.
    let months = options.throughMonth
    for (index, village) in villageIDs.enumerated() {
      let township = townshipIDs[index / options.villagesPerTownship]
      var memberIDs: [[UInt8]] = []
      for _ in 0..<options.membersPerVillage {
        memberIDs.append(add(Self.member(rng: &rng, year: year), unit: village))
      }
      guard options.activity else { continue }
      for month in 1...months {
        var group = Orgsync_V1_Meeting()
        group.date = date(month: month, day: rng.int(1...28))
        group.kind = .partyGroup
        group.topic = "黨小組學習"
        group.expectedCount = 8
        group.attendeeCount = Int32(rng.int(5...8))
        _ = add(Self.body(meeting: group), unit: village)
        var m = Orgsync_V1_Meeting()
        m.date = date(month: month, day: rng.int(1...28))
        m.kind = month % 3 == 0 ? .branchGeneral : .branchCommittee
        m.topic = Self.meetingTopics[rng.int(0...(Self.meetingTopics.count - 1))]
        m.expectedCount = Int32(m.kind == .branchGeneral ? options.membersPerVillage : 5)
        m.attendeeCount = Int32(max(1, Int(m.expectedCount) - rng.int(0...3)))
        m.decisions = "會議研究部署了下一階段工作。"
        _ = add(Self.body(meeting: m), unit: village)
      }
      // Quarterly checks and the half-year summary; a few units are late or returned.
      let quarters: [Orgsync_V1_ReportPeriod] = [.q1, .q2, .q3].prefix(max(0, months / 3)).map { $0 }
      for (q, period) in quarters.enumerated() {
        if period == .q3, index % 10 == 4 { continue }  // late: the 5th village of every ten has not reported
        var r = Orgsync_V1_Report()
        r.year = year
        r.period = period
        r.kind = .quarterlyCheck
        r.title = "\(year)年第\(["一", "二", "三"][q])季度創先爭優活動檢查報告"
        r.body = "本季度支部圍繞中心工作開展創先爭優活動，走訪群眾\(rng.int(20...80))戶。"
        r.submittedOn = date(month: 3 * (q + 1) + (period == .q3 ? 0 : 1), day: rng.int(1...10))
        r.status = period == .q3 ? .submitted : (rng.int(0...19) == 0 ? .returned : .acknowledged)
        if r.status != .submitted {
          r.reviewerUnitID = Data(township)
          r.reviewedOn = date(month: 3 * (q + 1) + 1, day: 20)
        }
        if r.status == .returned { r.reviewerComment = "請補充群眾意見的整改情況。" }
        _ = add(Self.body(report: r), unit: village)
      }
      if months >= 7 {
        var r = Orgsync_V1_Report()
        r.year = year
        r.period = .h1
        r.kind = .halfYearSummary
        r.title = "\(year)年上半年創先爭優工作小結"
        r.body = "上半年支部共為群眾辦實事\(rng.int(3...12))件。"
        r.status = .acknowledged
        r.submittedOn = date(month: 7, day: 5)
        r.reviewerUnitID = Data(township)
        r.reviewedOn = date(month: 7, day: 20)
        _ = add(Self.body(report: r), unit: village)
      }
      // Opinions, the problems picked out of them, promises and practical work.
      var opinionIDs: [[UInt8]] = []
      for _ in 0..<45 {
        var o = Orgsync_V1_Opinion()
        o.source = [.visit, .meeting, .letter, .suggestionBox][rng.int(0...3)]
        let (category, text) = Self.opinions[rng.int(0...(Self.opinions.count - 1))]
        o.category = category
        o.content = text
        o.date = anyDate(upTo: months)
        opinionIDs.append(add(Self.body(opinion: o), unit: village))
      }
      var problemIDs: [[UInt8]] = []
      for p in 0..<8 {
        var problem = Orgsync_V1_Problem()
        let (category, text) = Self.opinions[(index + p) % Self.opinions.count]
        problem.category = category
        problem.title = text
        problem.opinionIds = [Data(opinionIDs[p * 3]), Data(opinionIDs[p * 3 + 1])]
        problem.identifiedOn = date(month: rng.int(1...max(1, months - 1)), day: rng.int(1...28))
        let roll = rng.int(0...9)
        problem.status = roll < 5 ? .resolved : roll < 8 ? .inProgress : .open
        if problem.status == .resolved {
          let days = rng.int(5...90)
          let start = CalendarDate.dayNumber(problem.identifiedOn)
          problem.resolvedOn = Self.date(
            dayNumber: min(start + days, CalendarDate.dayNumber(date(month: months, day: 28))))
          problem.resolution = "已協調資金落實整改。"
        }
        problemIDs.append(add(Self.body(problem: problem), unit: village))
      }
      for _ in 0..<6 {
        var c = Orgsync_V1_Commitment()
        c.memberID = Data(memberIDs[rng.int(0...(memberIDs.count - 1))])
        c.content = Self.promises[rng.int(0...(Self.promises.count - 1))]
        c.promisedOn = date(month: rng.int(1...max(1, months - 2)), day: rng.int(1...28))
        c.due = date(month: min(12, Int(c.promisedOn.month) + rng.int(1...4)), day: 28)
        if rng.int(0...2) > 0, CalendarDate.compare(c.due, date(month: months, day: 28)) <= 0 {
          c.status = .fulfilled
          c.fulfilledOn = CalendarDate.compare(c.due, date(month: months, day: 1)) < 0 ? c.due : c.promisedOn
          c.evidence = "群眾簽字確認。"
        } else {
          c.status = .due
        }
        _ = add(Self.body(commitment: c), unit: village)
      }
      for _ in 0..<15 {
        var s = Orgsync_V1_ServiceCase()
        s.what = Self.services[rng.int(0...(Self.services.count - 1))]
        s.beneficiaries = Int32(rng.int(1...60))
        s.date = anyDate(upTo: months)
        s.costFen = Int64(rng.int(0...500_000))
        s.category = .livelihood
        if rng.int(0...2) == 0 { s.problemID = Data(problemIDs[rng.int(0...(problemIDs.count - 1))]) }
        _ = add(Self.body(serviceCase: s), unit: village)
      }
      for _ in 0..<3 {
        var s = Orgsync_V1_SupportItem()
        s.what = ["黨員活動室桌椅", "遠程教育設備", "黨建宣傳欄", "辦公電腦"][rng.int(0...3)]
        s.amountFen = Int64(rng.int(50_000...2_000_000))
        s.quantity = Int32(rng.int(1...10))
        s.date = anyDate(upTo: months)
        s.provider = "縣委組織部"
        _ = add(Self.body(supportItem: s), unit: village)
      }
    }
    // Each cadre: usually one or two liaison points and a lecture; some fall short.
    for (i, cadre) in cadres.enumerated() {
      let points = [1, 1, 2, 2, 1, 0, 3][i % 7]
      for _ in 0..<points {
        var l = Orgsync_V1_LiaisonPoint()
        l.cadreID = Data(cadre.id)
        l.cadreName = cadre.name
        l.since = date(month: rng.int(1...3), day: rng.int(1...28))
        _ = add(Self.body(liaisonPoint: l), unit: villageIDs[rng.int(0...(villageIDs.count - 1))])
      }
      if i % 5 != 4 {
        var l = Orgsync_V1_Lecture()
        l.speakerID = Data(cadre.id)
        l.speakerName = cadre.name
        l.date = anyDate(upTo: months)
        l.topic = ["新時代黨的建設", "密切聯繫群眾", "創先爭優與中心工作"][rng.int(0...2)]
        l.audienceSize = Int32(rng.int(15...60))
        l.kind = .partyLecture
        _ = add(Self.body(lecture: l), unit: cadre.unit == countyID ? villageIDs[i % villageIDs.count] : cadre.unit)
      }
    }
    // Notices from the county to every township, and an inspection of some villages.
    for (q, month) in [3, 6, 9].enumerated() where month <= months {
      var n = Orgsync_V1_Notice()
      n.audienceRootID = Data(countyID)
      n.title = "關於做好第\(["一", "二", "三"][q])季度創先爭優檢查工作的通知"
      n.body = "各鄉鎮黨委：請於季度末前完成督促檢查並報送情況。"
      n.issuedOn = date(month: month, day: 15)
      _ = add(Self.body(notice: n), unit: countyID)
    }
    for (index, village) in villageIDs.enumerated() where index % 4 == 0 {
      var i = Orgsync_V1_Inspection()
      i.issuerUnitID = Data(countyID)  // the county's inspection group (縣委督查組)
      i.date = anyDate(upTo: months)
      i.findings = "台賬基本齊全，群眾意見整改需加快。"
      i.followUpDue = date(month: min(12, months + 1), day: 15)
      _ = add(Self.body(inspection: i), unit: village)
    }
  }

  static func unit(
    _ code: String, _ name: String, _ level: Orgsync_V1_UnitLevel, _ kind: Orgsync_V1_UnitKind, parent: [UInt8]?,
    rng: inout SplitMix64
  ) -> Orgsync_V1_OrgUnit {
    var unit = Orgsync_V1_OrgUnit()
    unit.code = code
    unit.name = name
    unit.level = level
    unit.kind = kind
    unit.parentID = Data(parent ?? [])
    unit.secretary = personName(rng: &rng)
    return unit
  }

  static func member(rng: inout SplitMix64, year: Int32) -> Orgsync_V1_RecordBody {
    var m = Orgsync_V1_Member()
    m.name = personName(rng: &rng)
    m.gender = rng.int(0...9) < 7 ? .male : .female
    let born = Int(year) - rng.int(22...80)
    m.birthDate = CalendarDate.make(born, rng.int(1...12), rng.int(1...28))
    m.ethnicity = rng.int(0...19) == 0 ? "土家族" : "漢族"
    m.education = Orgsync_V1_Education(rawValue: rng.int(1...6)) ?? .juniorHigh
    m.occupation = occupations[rng.int(0...(occupations.count - 1))]
    let roll = rng.int(0...99)
    m.status = roll < 88 ? .full : roll < 93 ? .probationary : roll < 97 ? .activist : .applicant
    let joined = min(Int(year) - 1, born + rng.int(20...40))
    switch m.status {
    case .full:
      m.fullMemberOn = CalendarDate.make(joined, rng.int(1...12), rng.int(1...28))
    case .probationary:
      m.probationStart = CalendarDate.make(Int(year) - 1, rng.int(1...12), rng.int(1...28))
    default:
      m.appliedOn = CalendarDate.make(Int(year) - 1, rng.int(1...12), rng.int(1...28))
    }
    var body = Orgsync_V1_RecordBody()
    body.member = m
    return body
  }

  static func personName(rng: inout SplitMix64) -> String {
    let surname = surnames[rng.int(0...(surnames.count - 1))]
    let given = (0..<rng.int(1...2)).map { _ in givenChars[rng.int(0...(givenChars.count - 1))] }.joined()
    return surname + given
  }

  static func date(dayNumber: Int) -> Orgsync_V1_Date {
    let date = Date(timeIntervalSince1970: TimeInterval(dayNumber) * 86_400)
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 0)!
    let c = calendar.dateComponents([.year, .month, .day], from: date)
    return CalendarDate.make(c.year!, c.month!, c.day!)
  }

  static func body(meeting: Orgsync_V1_Meeting) -> Orgsync_V1_RecordBody { .with { $0.meeting = meeting } }
  static func body(report: Orgsync_V1_Report) -> Orgsync_V1_RecordBody { .with { $0.report = report } }
  static func body(opinion: Orgsync_V1_Opinion) -> Orgsync_V1_RecordBody { .with { $0.opinion = opinion } }
  static func body(problem: Orgsync_V1_Problem) -> Orgsync_V1_RecordBody { .with { $0.problem = problem } }
  static func body(commitment: Orgsync_V1_Commitment) -> Orgsync_V1_RecordBody { .with { $0.commitment = commitment } }
  static func body(serviceCase: Orgsync_V1_ServiceCase) -> Orgsync_V1_RecordBody {
    .with { $0.serviceCase = serviceCase }
  }
  static func body(supportItem: Orgsync_V1_SupportItem) -> Orgsync_V1_RecordBody {
    .with { $0.supportItem = supportItem }
  }
  static func body(liaisonPoint: Orgsync_V1_LiaisonPoint) -> Orgsync_V1_RecordBody {
    .with { $0.liaisonPoint = liaisonPoint }
  }
  static func body(lecture: Orgsync_V1_Lecture) -> Orgsync_V1_RecordBody { .with { $0.lecture = lecture } }
  static func body(notice: Orgsync_V1_Notice) -> Orgsync_V1_RecordBody { .with { $0.notice = notice } }
  static func body(inspection: Orgsync_V1_Inspection) -> Orgsync_V1_RecordBody { .with { $0.inspection = inspection } }

  static let surnames = Array(
    "王李張劉陳楊黃趙吳周徐孫馬朱胡郭何高林羅鄭梁謝宋唐許韓馮鄧曹彭曾蕭田董袁潘蔣蔡余杜葉程蘇魏呂丁沈姚盧姜崔鍾譚陸汪范金石廖賈夏韋方白鄒孟熊秦邱江尹薛段雷侯龍史陶黎賀顧毛郝龔邵萬錢嚴武戴莫孔向湯"
  ).map(String.init)
  static let givenChars = Array("建國華明麗秀英志強軍偉芳敏靜麗娟勇傑濤超平紅梅蘭桂花春生德福海波玉珍鳳霞雲鵬飛翔林森文武良忠誠和順安康").map(String.init)
  static let townshipNames = [
    "廉橋", "流光嶺", "牛馬司", "火廠坪", "仙槎橋", "黑田鋪", "靈官殿", "魏家橋", "九龍嶺", "佘田橋", "團山", "楊橋", "周官橋", "簡家隴", "斫曹",
    "野雞坪", "崇山鋪", "水東江", "雙鳳", "蔣河橋",
  ]
  static let villageNames = [
    "太平", "新民", "雙鳳", "楓林", "石橋", "大塘", "荷花", "龍潭", "長樂", "紅星", "青山", "白竹", "金雞", "梅溪", "桃花", "柏樹", "東風", "向陽", "和平",
    "光明", "興隆",
    "永豐", "五一", "前進", "勝利", "團結", "竹山", "茶園", "楊柳", "高坪", "石門", "大興",
  ]
  static let occupations = ["農民", "教師", "村醫", "個體工商戶", "退休幹部", "外出務工", "村幹部", "養殖戶", "企業職工"]
  static let meetingTopics = ["學習黨章黨規", "部署創先爭優活動", "研究群眾反映的突出問題", "討論發展黨員", "通報季度工作", "組織生活會"]
  static let opinions: [(Orgsync_V1_ProblemCategory, String)] = [
    (.livelihood, "村道年久失修，雨天泥濘難行"), (.livelihood, "飲用水水質差，希望接通自來水"), (.livelihood, "留守老人看病難"),
    (.workStyle, "村務公開不及時"), (.workStyle, "幹部下村少，群眾辦事跑路多"), (.organisation, "黨員活動室長期閒置"),
    (.economy, "農產品銷路不暢"), (.environment, "生活垃圾亂堆亂放"), (.safety, "河堤有隱患，汛期令人擔心"),
  ]
  static let promises = ["年底前修通村組公路", "為困難戶申請低保", "每月公開村務財務", "協調解決灌溉用水", "組織農技培訓兩期"]
  static let services = ["幫助困難群眾收割稻穀", "為留守兒童輔導功課", "修繕村小學圍牆", "清理溝渠", "慰問五保老人", "組織義診"]
}

extension SplitMix64 {
  mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

  /// 16 bytes shaped as a UUIDv7 whose time part grows with each call (time-ordered keys).
  mutating func bytes(_ count: Int, version7: Bool) -> [UInt8] {
    var out = (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    if version7, count == 16 {
      counter += 1
      let ms = UInt64(1_767_225_600_000) + counter
      for i in 0..<6 { out[i] = UInt8((ms >> (40 - 8 * UInt64(i))) & 0xFF) }
      out[6] = 0x70 | (out[6] & 0x0F)
      out[8] = 0x80 | (out[8] & 0x3F)
    }
    return out
  }
}

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
    units.append((countyID, Self.unit("430521", "中共邵东县委员会", .county, .committee, parent: nil, rng: &rng)))
    for t in 0..<options.townships {
      let township = id()
      townshipIDs.append(township)
      let name = Self.townshipNames[t % Self.townshipNames.count] + (t >= Self.townshipNames.count ? "\(t)" : "")
      units.append(
        (
          township,
          Self.unit(
            "430521-\(100 + t)", "中共\(name)镇委员会", .township, .committee, parent: countyID, rng: &rng)
        ))
      for v in 0..<options.villagesPerTownship {
        let village = id()
        villageIDs.append(village)
        let villageName = Self.villageNames[(t * 7 + v) % Self.villageNames.count]
        units.append(
          (
            village,
            Self.unit(
              String(format: "430521-%d-%03d", 100 + t, v + 1), "\(name)镇\(villageName)村党支部", .grassroots, .branch,
              parent: township, rng: &rng)
          ))
      }
    }

    // Cadres of the county and the townships, with their liaison points and lectures.
    var cadres: [(id: [UInt8], name: String, unit: [UInt8])] = []
    for (unit, count) in [(countyID, 12)] + townshipIDs.map({ ($0, 3) }) {
      for _ in 0..<count {
        var body = Self.member(rng: &rng, year: year, throughMonth: options.throughMonth)
        // Cadres: county standing committee members 40–58, township committee members 30–55;
        // full members of long standing, university-educated officials.
        let age = unit == countyID ? rng.int(40...58) : rng.int(30...55)
        let born = Int(year) - age
        var m = body.member
        m.leadingCadre = true
        m.birthDate = CalendarDate.make(born, rng.int(1...12), rng.int(1...28))
        m.status = .full
        m.clearAppliedOn()
        m.clearActivistOn()
        m.clearDevelopmentTargetOn()
        m.probationStart = CalendarDate.make(born + rng.int(21...26), rng.int(1...12), rng.int(1...28))
        m.fullMemberOn = CalendarDate.make(
          Int(m.probationStart.year) + 1, Int(m.probationStart.month), Int(m.probationStart.day))
        m.education = [.bachelor, .bachelor, .bachelor, .postgraduate, .college][rng.int(0...4)]
        m.occupation = "党政机关工作人员"
        m.occupationCode = .official
        m.duesCategory = .salaried
        m.duesBaseFen = Int64(rng.int(600_000...1_000_000))
        body.member = m
        body.member.cadreTitle = unit == countyID ? "县委常委" : "镇党委委员"
        let cadreID = add(body, unit: unit)
        cadres.append((cadreID, body.member.name, unit))
      }
    }

    // The lifecycle records draw from their own stream (`add` draws ids from `rng`).
    var lifecycleRNG = SplitMix64(seed: options.seed &+ 0x9E37_79B9)
    // Village branches: members and a year of work.
    let months = options.throughMonth
    for (index, village) in villageIDs.enumerated() {
      let township = townshipIDs[index / options.villagesPerTownship]
      var memberIDs: [[UInt8]] = []
      var memberBodies: [Orgsync_V1_Member] = []
      for n in 0..<options.membersPerVillage {
        var body = Self.member(rng: &rng, year: year, throughMonth: options.throughMonth)
        // A third of the branches let one probation run past its year (the last member entered).
        if index % 3 == 0, n == options.membersPerVillage - 1 {
          body.member.status = .probationary
          body.member.birthDate.year = year - 34
          body.member.clearFullMemberOn()
          let start = CalendarDate.make(Int(year) - 1, max(1, options.throughMonth - 2), 18)
          body.member.probationStart = start
          body.member.developmentTargetOn = CalendarDate.make(Int(year) - 2, Int(start.month), 1)
          body.member.activistOn = CalendarDate.make(Int(year) - 3, Int(start.month), 1)
          body.member.appliedOn = CalendarDate.make(Int(year) - 4, Int(start.month), 1)
        }
        memberIDs.append(add(body, unit: village))
        memberBodies.append(body.member)
      }
      guard options.activity else { continue }
      addLifecycle(
        village: village, index: index, members: Array(zip(memberIDs, memberBodies)), year: year, months: months,
        rng: &lifecycleRNG, add: add)
      for month in 1...months {
        var group = Orgsync_V1_Meeting()
        group.date = date(month: month, day: rng.int(1...28))
        group.kind = .partyGroup
        group.topic = "党小组学习"
        group.expectedCount = 8
        group.attendeeCount = Int32(rng.int(5...8))
        _ = add(Self.body(meeting: group), unit: village)
        var m = Orgsync_V1_Meeting()
        m.date = date(month: month, day: rng.int(1...28))
        m.kind = month % 3 == 0 ? .branchGeneral : .branchCommittee
        m.topic = Self.meetingTopics[rng.int(0...(Self.meetingTopics.count - 1))]
        m.expectedCount = Int32(m.kind == .branchGeneral ? options.membersPerVillage : 5)
        m.attendeeCount = Int32(max(1, Int(m.expectedCount) - rng.int(0...3)))
        m.decisions = "会议研究部署了下一阶段工作。"
        _ = add(Self.body(meeting: m), unit: village)
      }
      // Quarterly checks and the half-year summary; a few units are late or returned.
      let quarters: [Orgsync_V1_ReportPeriod] = [.q1, .q2, .q3].prefix(max(0, months / 3)).map { $0 }
      for (q, period) in quarters.enumerated() {
        if period == .q3, index % 10 == 4 { continue }  // late: the 5th village of every ten has not reported
        // A report is written once its quarter has ended: in the first ten days after it.
        guard 3 * (q + 1) + 1 <= months else { continue }
        var r = Orgsync_V1_Report()
        r.year = year
        r.period = period
        r.kind = .quarterlyCheck
        r.title = "\(year)年第\(["一", "二", "三"][q])季度创先争优活动检查报告"
        r.body = "本季度支部围绕中心工作开展创先争优活动，走访群众\(rng.int(20...80))户。"
        r.submittedOn = date(month: 3 * (q + 1) + 1, day: rng.int(1...10))
        r.status = period == .q3 ? .submitted : (rng.int(0...19) == 0 ? .returned : .acknowledged)
        if r.status != .submitted {
          r.reviewerUnitID = Data(township)
          r.reviewedOn = date(month: 3 * (q + 1) + 1, day: 20)
        }
        if r.status == .returned { r.reviewerComment = "请补充群众意见的整改情况。" }
        _ = add(Self.body(report: r), unit: village)
      }
      if months >= 7 {
        var r = Orgsync_V1_Report()
        r.year = year
        r.period = .h1
        r.kind = .halfYearSummary
        r.title = "\(year)年上半年创先争优工作小结"
        r.body = "上半年支部共为群众办实事\(rng.int(3...12))件。"
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
          problem.resolution = "已协调资金落实整改。"
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
          c.evidence = "群众签字确认。"
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
        s.what = ["党员活动室桌椅", "远程教育设备", "党建宣传栏", "办公电脑"][rng.int(0...3)]
        s.amountFen = Int64(rng.int(50_000...2_000_000))
        s.quantity = Int32(rng.int(1...10))
        s.date = anyDate(upTo: months)
        s.provider = "县委组织部"
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
        // Recorded by the cadre's own committee, naming the village: a township cadre's in the
        // township, a county cadre's anywhere in the county.
        let perTownship = max(1, options.villagesPerTownship)
        let village =
          townshipIDs.firstIndex(of: cadre.unit).map { villageIDs[$0 * perTownship + rng.int(0...(perTownship - 1))] }
          ?? villageIDs[rng.int(0...(villageIDs.count - 1))]
        l.villageUnitID = Data(village)
        _ = add(Self.body(liaisonPoint: l), unit: cadre.unit)
      }
      if i % 5 != 4 {
        var l = Orgsync_V1_Lecture()
        l.speakerID = Data(cadre.id)
        l.speakerName = cadre.name
        l.date = anyDate(upTo: months)
        l.topic = ["新时代党的建设", "密切联系群众", "创先争优与中心工作"][rng.int(0...2)]
        l.audienceSize = Int32(rng.int(15...60))
        l.kind = .partyLecture
        // Lectures go to the grass roots: a county cadre's to any village, a township cadre's to
        // one of the township's own villages.
        let perTownship = max(1, options.villagesPerTownship)
        let held =
          townshipIDs.firstIndex(of: cadre.unit).map { villageIDs[$0 * perTownship + i % perTownship] }
          ?? villageIDs[i % villageIDs.count]
        _ = add(Self.body(lecture: l), unit: held)
      }
    }
    // Townships report to the county each quarter too; one in seven is late with Q3.
    for (t, township) in townshipIDs.enumerated() where options.activity {
      for (q, period) in ([.q1, .q2, .q3] as [Orgsync_V1_ReportPeriod]).enumerated() where 3 * (q + 1) + 1 <= months {
        if period == .q3, t % 7 == 3 { continue }
        var r = Orgsync_V1_Report()
        r.year = year
        r.period = period
        r.kind = .quarterlyCheck
        r.title = "\(year)年第\(["一", "二", "三"][q])季度全镇创先争优活动检查情况报告"
        r.body = "全镇各村党支部按要求开展季度检查，情况汇总如下。"
        r.submittedOn = date(month: 3 * (q + 1) + 1, day: 12)
        r.status = period == .q3 ? .submitted : .acknowledged
        if r.status == .acknowledged {
          r.reviewerUnitID = Data(countyID)
          r.reviewedOn = date(month: 3 * (q + 1) + 1, day: 25)
        }
        _ = add(Self.body(report: r), unit: township)
      }
    }
    // Notices from the county to every township, and an inspection of some villages.
    for (q, month) in [3, 6, 9].enumerated() where month <= months {
      var n = Orgsync_V1_Notice()
      n.audienceRootID = Data(countyID)
      n.title = "关于做好第\(["一", "二", "三"][q])季度创先争优检查工作的通知"
      n.body = "各乡镇党委：请于季度末前完成督促检查并报送情况。"
      n.issuedOn = date(month: month, day: 15)
      let notice = add(Self.body(notice: n), unit: countyID)
      // Nine villages in ten sign for it within the week.
      for (index, village) in villageIDs.enumerated() where (index + q) % 10 != 0 {
        var receipt = Orgsync_V1_NoticeReceipt()
        receipt.noticeID = Data(notice)
        receipt.readOn = date(month: month, day: 15 + rng.int(0...7))
        _ = add(.with { $0.noticeReceipt = receipt }, unit: village)
      }
    }
    for (index, village) in villageIDs.enumerated() where index % 4 == 0 {
      var i = Orgsync_V1_Inspection()
      i.issuerUnitID = Data(countyID)  // the county's inspection group (县委督查组)
      i.date = anyDate(upTo: months)
      i.findings = "台账基本齐全，群众意见整改需加快。"
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
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔向汤"
  ).map(String.init)
  static let givenChars = Array("建国华明丽秀英志强军伟芳敏静丽娟勇杰涛超平红梅兰桂花春生德福海波玉珍凤霞云鹏飞翔林森文武良忠诚和顺安康").map(String.init)
  static let townshipNames = [
    "廉桥", "流光岭", "牛马司", "火厂坪", "仙槎桥", "黑田铺", "灵官殿", "魏家桥", "九龙岭", "佘田桥", "团山", "杨桥", "周官桥", "简家陇", "斫曹",
    "野鸡坪", "崇山铺", "水东江", "双凤", "蒋河桥",
  ]
  static let villageNames = [
    "太平", "新民", "双凤", "枫林", "石桥", "大塘", "荷花", "龙潭", "长乐", "红星", "青山", "白竹", "金鸡", "梅溪", "桃花", "柏树", "东风", "向阳", "和平",
    "光明", "兴隆",
    "永丰", "五一", "前进", "胜利", "团结", "竹山", "茶园", "杨柳", "高坪", "石门", "大兴",
  ]
  static let occupations = ["农民", "教师", "村医", "个体工商户", "退休干部", "外出务工", "村干部", "养殖户", "企业职工"]
  static let meetingTopics = ["学习党章党规", "部署创先争优活动", "研究群众反映的突出问题", "讨论发展党员", "通报季度工作", "组织生活会"]
  static let opinions: [(Orgsync_V1_ProblemCategory, String)] = [
    (.livelihood, "村道年久失修，雨天泥泞难行"), (.livelihood, "饮用水水质差，希望接通自来水"), (.livelihood, "留守老人看病难"),
    (.workStyle, "村务公开不及时"), (.workStyle, "干部下村少，群众办事跑路多"), (.organisation, "党员活动室长期闲置"),
    (.economy, "农产品销路不畅"), (.environment, "生活垃圾乱堆乱放"), (.safety, "河堤有隐患，汛期令人担心"),
  ]
  static let promises = ["年底前修通村组公路", "为困难户申请低保", "每月公开村务财务", "协调解决灌溉用水", "组织农技培训两期"]
  static let services = ["帮助困难群众收割稻谷", "为留守儿童辅导功课", "修缮村小学围墙", "清理沟渠", "慰问五保老人", "组织义诊"]
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

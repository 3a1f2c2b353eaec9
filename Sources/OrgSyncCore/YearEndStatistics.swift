import OrgSyncProto

/// The year-end tallies of party members (党内统计年报), as of 31 December of a year, from the
/// member records of a subtree. Who counts: full and probationary members whose stage date, if
/// recorded, is on or before 31 December (a member converted or admitted later is not yet a
/// member on that day). Each line is (table, row, count), in the order the yearly report
/// lists them; every count comes from one pass over the members.
public struct YearEndStatistics: Sendable {
  public let year: Int32
  public private(set) var lines: [(table: String, row: String, count: Int)] = []

  public static let ageBands: [(upTo: Int, label: String)] = [
    (30, "30岁及以下"), (35, "31至35岁"), (40, "36至40岁"), (45, "41至45岁"), (50, "46至50岁"),
    (55, "51至55岁"), (60, "56至60岁"), (Int.max, "61岁及以上"),
  ]
  static let educationLabels: [(Orgsync_V1_Education, String)] = [
    (.postgraduate, "研究生"), (.bachelor, "大学本科"), (.college, "大学专科"), (.seniorHigh, "高中、中专"),
    (.juniorHigh, "初中"), (.primary, "小学"), (.unspecified, "未填"),
  ]

  /// A transfer and which of its ends lies in the subtree counted.
  public struct TransferEnds: Sendable {
    public var transfer: Orgsync_V1_Transfer
    public var issuedInside: Bool
    public var receivedInside: Bool

    public init(transfer: Orgsync_V1_Transfer, issuedInside: Bool, receivedInside: Bool) {
      self.transfer = transfer
      self.issuedInside = issuedInside
      self.receivedInside = receivedInside
    }
  }

  static let occupationLabels: [(Orgsync_V1_Occupation, String)] = [
    (.worker, "工人"), (.farmer, "农牧渔民"), (.professional, "企事业单位专业技术人员"), (.manager, "企事业单位管理人员"),
    (.official, "党政机关工作人员"), (.student, "学生"), (.military, "解放军、武警"), (.retired, "离退休人员"),
    (.other, "其他职业人员"), (.unspecified, "未填"),
  ]

  public init(members: [Orgsync_V1_Member], year: Int32, transfers: [TransferEnds] = []) {
    self.year = year
    let yearEnd = CalendarDate.make(Int(year), 12, 31)
    let yearStart = CalendarDate.make(Int(year), 1, 1)
    func isSet(_ d: Orgsync_V1_Date) -> Bool { d.year != 0 }
    func byYearEnd(_ d: Orgsync_V1_Date) -> Bool { !isSet(d) || CalendarDate.compare(d, yearEnd) <= 0 }
    func inYear(_ d: Orgsync_V1_Date) -> Bool {
      isSet(d) && CalendarDate.compare(d, yearStart) >= 0 && CalendarDate.compare(d, yearEnd) <= 0
    }
    let counted = members.filter { m in
      switch m.status {
      case .full: byYearEnd(m.fullMemberOn.year != 0 ? m.fullMemberOn : m.probationStart)
      case .probationary: byYearEnd(m.probationStart)
      default: false
      }
    }
    var lines: [(String, String, Int)] = []
    func tally(_ table: String, _ rows: [String], _ value: (Orgsync_V1_Member) -> String) {
      var counts: [String: Int] = [:]
      for m in counted { counts[value(m), default: 0] += 1 }
      for row in rows { lines.append((table, row, counts[row] ?? 0)) }
      // Values outside the standard rows (free text typed before code lists) are kept, not lost.
      for (row, count) in counts.sorted(by: { $0.key < $1.key }) where !rows.contains(row) {
        lines.append((table, row, count))
      }
    }
    tally("党员总数", ["正式党员", "预备党员"]) { $0.status == .full ? "正式党员" : "预备党员" }
    tally("性别", ["男", "女", "未填"]) { $0.gender == .male ? "男" : $0.gender == .female ? "女" : "未填" }
    // Nationalities by the GB/T 3304 list: 汉族 and 少数民族, then (a table of its own, so each
    // table still adds up to the members) each minority present, in code order.
    tally("民族", ["汉族", "少数民族", "未填"]) { m in
      guard !m.ethnicity.isEmpty else { return "未填" }
      guard let code = Ethnicity.code(of: m.ethnicity) else { return m.ethnicity }  // typed before the list
      return code == 1 ? "汉族" : "少数民族"
    }
    var minorities: [Int: Int] = [:]
    for m in counted { if let code = Ethnicity.code(of: m.ethnicity), code != 1 { minorities[code, default: 0] += 1 } }
    for (code, name) in Ethnicity.names where minorities[code] != nil {
      lines.append(("少数民族构成", name, minorities[code]!))
    }
    tally("职业", Self.occupationLabels.map(\.1)) { m in
      Self.occupationLabels.first { $0.0 == m.occupationCode }?.1 ?? "未填"
    }
    tally("年龄（截至12月31日）", Self.ageBands.map(\.label) + ["未填"]) { m in
      guard isSet(m.birthDate) else { return "未填" }
      var age = Int(yearEnd.year - m.birthDate.year)
      if (yearEnd.month, yearEnd.day) < (m.birthDate.month, m.birthDate.day) { age -= 1 }
      return Self.ageBands.first { age <= $0.upTo }?.label ?? "未填"
    }
    tally("学历", Self.educationLabels.map(\.1)) { m in
      Self.educationLabels.first { $0.0 == m.education }?.1 ?? "未填"
    }
    // Join time in the bands of Party history the yearly report uses (a constant here).
    let joinBands: [(through: Int, label: String)] = [
      (194909, "1949年9月及以前"), (196604, "1949年10月至1966年4月"), (197610, "1966年5月至1976年10月"),
      (197812, "1976年11月至1978年12月"), (200210, "1979年1月至2002年10月"), (201210, "2002年11月至2012年10月"),
      (202210, "2012年11月至2022年10月"), (Int.max, "2022年11月以后"),
    ]
    tally("入党时间", joinBands.map(\.label) + ["未填"]) { m in
      let joined = isSet(m.probationStart) ? m.probationStart : m.fullMemberOn
      guard isSet(joined) else { return "未填" }
      let month = Int(joined.year) * 100 + Int(joined.month)
      return joinBands.first { month <= $0.through }?.label ?? "未填"
    }
    func accepted(_ t: Orgsync_V1_Transfer) -> Bool { t.status == .accepted && inYear(t.answeredOn) }
    // The year's movement, over every member record (not only those counted above).
    let movement: [(String, Int)] = [
      ("递交入党申请", members.filter { inYear($0.appliedOn) }.count),
      ("确定为入党积极分子", members.filter { inYear($0.activistOn) }.count),
      ("确定为发展对象", members.filter { inYear($0.developmentTargetOn) }.count),
      ("发展党员（接收为预备党员）", members.filter { inYear($0.probationStart) }.count),
      ("预备党员转正", members.filter { inYear($0.fullMemberOn) }.count),
      (
        "组织关系转入（本年接收）",
        transfers.filter { $0.receivedInside && !$0.issuedInside && accepted($0.transfer) }.count
      ),
      (
        "组织关系转出（本年被接收）",
        transfers.filter { $0.issuedInside && !$0.receivedInside && accepted($0.transfer) }.count
      ),
      ("组织关系已转出（现状）", members.filter { $0.status == .transferredOut }.count),
      ("死亡（本年）", members.filter { $0.status == .deceased && inYear($0.endedOn) }.count),
      ("出党（本年）", members.filter { $0.status == .left && inYear($0.endedOn) }.count),
      ("已故（现状）", members.filter { $0.status == .deceased }.count),
      ("出党（现状）", members.filter { $0.status == .left }.count),
    ]
    for (row, count) in movement { lines.append(("本年变动", row, count)) }
    self.lines = lines
  }
}

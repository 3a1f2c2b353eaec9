import OrgSyncProto

/// The 56 nationalities of GB/T 3304 (民族代码), as the year-end statistics count them. A member's
/// ethnicity stays text (what the office typed), but it must name one of these; "汉" and "汉族"
/// are the same nationality.
public enum Ethnicity {
  /// Code → name, in code order (01 汉族 … 56 基诺族; 97 其他未识别民族, 98 外国血统中国籍人士).
  public static let names: [(code: Int, name: String)] = {
    let list = """
      汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族
      佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族
      阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族
      珞巴族 基诺族
      """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    return list.enumerated().map { ($0.offset + 1, $0.element) } + [(97, "其他未识别民族"), (98, "外国血统中国籍人士")]
  }()

  static let byName: [String: Int] = {
    var map: [String: Int] = [:]
    for (code, name) in names {
      map[name] = code
      if name.hasSuffix("族") { map[String(name.dropLast())] = code }
    }
    map["漢族"] = 1  // the traditional form, as some older registers write it
    map["漢"] = 1
    return map
  }()

  /// The code of a nationality written with or without 族 (nil when it names none).
  public static func code(of text: String) -> Int? {
    byName[text.trimmingCharacters(in: .whitespaces)]
  }

  /// The standard name for what was typed ("汉" → "汉族"), or nil.
  public static func standardName(_ text: String) -> String? {
    code(of: text).flatMap { code in names.first { $0.code == code }?.name }
  }
}

/// Party dues (党费) as the 2008 rules reckon them: a share of monthly income by band for the
/// salaried and the retired, a small fixed amount for farmers, students and the unemployed.
/// Months are written YYYYMM.
public enum Dues {
  /// What `m` owes each month, in fen (0 when the category is not set or dues are waived).
  public static func monthlyFen(_ m: Orgsync_V1_Member) -> Int64 {
    monthlyFen(category: m.duesCategory, base: m.duesBaseFen)
  }

  public static func monthlyFen(category: Orgsync_V1_DuesCategory, base: Int64) -> Int64 {
    func share(_ perMille: Int64) -> Int64 { (base * perMille + 500) / 1000 }  // rounded to the fen
    switch category {
    case .salaried:
      // 0.5 % up to 3,000 yuan, 1 % up to 5,000, 1.5 % up to 10,000, 2 % above.
      return base <= 300_000 ? share(5) : base <= 500_000 ? share(10) : base <= 1_000_000 ? share(15) : share(20)
    case .retired:
      return base <= 500_000 ? share(5) : share(10)
    case .farmer:
      return (20...100).contains(base) ? base : 20
    case .lowIncome:
      return 20
    default:
      return 0
    }
  }

  /// Months from `a` to `b`, both included (0 when b is before a).
  public static func months(from a: Int32, to b: Int32) -> Int {
    max(0, Int(b / 100 - a / 100) * 12 + Int(b % 100 - a % 100) + 1)
  }

  /// The month `n` months after `month` (n may be negative).
  public static func adding(_ n: Int, to month: Int32) -> Int32 {
    let index = Int(month / 100) * 12 + Int(month % 100 - 1) + n
    return Int32(index / 12 * 100 + index % 12 + 1)
  }

  public static func month(_ d: Orgsync_V1_Date) -> Int32 { d.year * 100 + d.month }

  /// Six months or more without paying: the Party Constitution's threshold (第九条) for a
  /// member to be considered as having left.
  public static let arrearsThreshold = 6
}

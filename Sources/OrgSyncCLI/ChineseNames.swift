import Foundation

/// The Chinese names a secretary types for the closed sets (`--status 正式党员`), in Simplified
/// characters and — because older forms and the protos' comments use them — Traditional ones.
/// Each maps to the short English name `FieldInput` already takes. Hand-written: the names are
/// the organisation's own terms, not translations a converter could produce.
enum ChineseNames {
  static let byEnum: [String: [String: String]] = [
    "MemberStatus": [
      "入党申请人": "applicant", "申请人": "applicant", "入党积极分子": "activist", "积极分子": "activist",
      "发展对象": "development-target", "预备党员": "probationary", "正式党员": "full",
      "组织关系已转出": "transferred-out", "已转出": "transferred-out", "已故": "deceased", "出党": "left",
      "退党": "left",
      "入黨申請人": "applicant", "入黨積極分子": "activist", "積極分子": "activist", "發展對象": "development-target",
      "預備黨員": "probationary", "正式黨員": "full", "組織關係已轉出": "transferred-out", "已轉出": "transferred-out",
      "出黨": "left", "退黨": "left",
    ],
    "Gender": ["男": "male", "女": "female"],
    "Education": [
      "小学": "primary", "初中": "junior-high", "高中": "senior-high", "中专": "senior-high", "大专": "college",
      "本科": "bachelor", "研究生": "postgraduate",
      "小學": "primary", "中專": "senior-high", "大專": "college",
    ],
    "MeetingKind": [
      "例会": "regular", "联席会议": "joint", "支部党员大会": "branch-general", "党员大会": "branch-general",
      "支部委员会": "branch-committee", "支委会": "branch-committee", "党小组会": "party-group", "其他": "other",
      "例會": "regular", "聯席會議": "joint", "支部黨員大會": "branch-general", "支部委員會": "branch-committee",
      "黨小組會": "party-group",
    ],
    "ReportPeriod": [
      "第一季度": "q1", "第二季度": "q2", "第三季度": "q3", "第四季度": "q4", "上半年": "h1", "下半年": "h2",
      "全年": "year",
    ],
    "ReportKind": [
      "季度检查": "quarterly-check", "半年小结": "half-year-summary", "年终总结": "year-end-summary", "其他": "other",
      "季度檢查": "quarterly-check", "半年小結": "half-year-summary", "年終總結": "year-end-summary",
    ],
    "ReportStatus": [
      "草稿": "draft", "已上报": "submitted", "已审阅": "acknowledged", "已退回": "returned",
      "已上報": "submitted", "已審閱": "acknowledged",
    ],
    "LectureKind": [
      "党课": "party-lecture", "辅导报告": "tutoring-report", "黨課": "party-lecture", "輔導報告": "tutoring-report",
    ],
    "OpinionSource": [
      "走访": "visit", "座谈会": "meeting", "来信": "letter", "电话": "phone", "意见箱": "suggestion-box",
      "网上": "online", "其他": "other",
      "走訪": "visit", "座談會": "meeting", "來信": "letter", "電話": "phone", "意見箱": "suggestion-box",
    ],
    "ProblemCategory": [
      "民生": "livelihood", "作风": "work-style", "组织": "organisation", "发展": "economy", "环境": "environment",
      "安全": "safety", "其他": "other",
      "作風": "work-style", "組織": "organisation", "發展": "economy", "環境": "environment",
    ],
    "ProblemStatus": [
      "未解决": "open", "待解决": "open", "处理中": "in-progress", "已解决": "resolved",
      "未解決": "open", "處理中": "in-progress", "已解決": "resolved",
    ],
    "CommitmentStatus": [
      "未到期": "due", "进行中": "due", "已兑现": "fulfilled", "已取消": "cancelled",
      "進行中": "due", "已兌現": "fulfilled",
    ],
    "Occupation": [
      "工人": "worker", "农牧渔民": "farmer", "农民": "farmer", "专业技术人员": "professional",
      "企事业单位专业技术人员": "professional", "管理人员": "manager", "企事业单位管理人员": "manager",
      "党政机关工作人员": "official", "机关干部": "official", "学生": "student", "解放军、武警": "military", "军人": "military",
      "离退休人员": "retired", "离退休": "retired", "其他职业人员": "other", "其他": "other",
    ],
    "DuesCategory": [
      "在岗职工": "salaried", "离退休": "retired", "离退休人员": "retired", "农民": "farmer",
      "学生、下岗失业、低保": "low-income", "低收入": "low-income", "免交": "exempt",
    ],
    "TransferStatus": ["在途": "issued", "已开介绍信": "issued", "已接收": "accepted", "已退回": "returned"],
    "AssessmentKind": [
      "公开承诺": "public-pledge", "领导点评": "leader-review", "民主评议": "democratic-review",
      "民主评议党员": "democratic-review", "群众评议": "democratic-review", "评星定级": "star-rating",
      "结对帮扶": "pairing", "年初目标": "year-target",
    ],
    "AssessmentGrade": ["优秀": "excellent", "合格": "competent", "基本合格": "basically-competent", "不合格": "incompetent"],
  ]

  /// The short name for a Chinese one, if it is known for this enum.
  static func shortName(_ text: String, enum name: String) -> String? {
    byEnum[name]?[text.trimmingCharacters(in: .whitespaces)]
  }

  /// The Simplified names of a value, for help and error messages ("正式党员").
  static func names(of short: String, enum name: String) -> [String] {
    guard let table = byEnum[name] else { return [] }
    return table.filter { $0.value == short && $0.key.unicodeScalars.allSatisfy { !traditionalOnly.contains($0) } }
      .map(\.key).sorted()
  }

  /// Characters that mark a Traditional form, to list only Simplified names in help.
  private static let traditionalOnly = Set("黨員積極發對預關係轉學專會聯議組審閱報導輔課訪談來電見網風環處決兌現進結檢終".unicodeScalars)
}

import OrgSyncCore
import OrgSyncProto

/// What the office sees in Simplified Chinese: record types, fields and closed-set values.
/// A field or type with no label here still gets its form and column, under its field name —
/// so a new field in Protos/ appears at once, and gets its words here.
public enum Labels {
  public static func type(_ type: Orgsync_V1_RecordType) -> String {
    typeLabels[type] ?? RecordNames.name(of: type)
  }

  public static func field(_ name: String, of type: Orgsync_V1_RecordType) -> String {
    byType[type]?[name] ?? common[name] ?? name
  }

  /// The Chinese name of a closed-set value (its short name, e.g. "full" → 正式党员).
  public static func choice(_ short: String, enum name: String) -> String {
    ChineseNames.names(of: short, enum: name).max { $0.count < $1.count } ?? extraChoices[name]?[short] ?? short
  }

  static let typeLabels: [Orgsync_V1_RecordType: String] = [
    .orgUnit: "党组织", .member: "党员", .meeting: "会议", .report: "报告", .inspection: "督查",
    .notice: "通知", .liaisonPoint: "联系点", .lecture: "党课", .supportItem: "帮扶物资", .opinion: "群众意见",
    .problem: "问题", .commitment: "承诺", .serviceCase: "服务事项", .transfer: "组织关系转接", .duesPayment: "党费交纳",
    .assessment: "评议考核", .noticeReceipt: "通知签收",
  ]

  static let common: [String: String] = [
    "name": "名称", "date": "日期", "kind": "类别", "topic": "主题", "note": "备注", "status": "状态", "title": "标题",
    "body": "正文", "phone": "电话", "category": "类别", "content": "内容", "what": "事项",
  ]

  static let byType: [Orgsync_V1_RecordType: [String: String]] = [
    .orgUnit: [
      "code": "组织代码", "name": "组织名称", "level": "层级", "kind": "组织类别", "parent_id": "上级组织",
      "secretary": "书记", "phone": "办公电话", "address": "地址", "founded_on": "成立日期", "dissolved_on": "撤销日期",
    ],
    .member: [
      "name": "姓名", "gender": "性别", "birth_date": "出生日期", "ethnicity": "民族", "education": "学历",
      "occupation": "职业", "phone": "联系电话", "status": "人员类别", "leading_cadre": "是否领导干部",
      "cadre_title": "职务", "applied_on": "递交入党申请日期", "activist_on": "确定为积极分子日期",
      "development_target_on": "确定为发展对象日期", "probation_start": "预备期开始日期", "full_member_on": "转正日期",
      "sponsor_ids": "入党介绍人", "training_done_on": "培训结业日期", "vote_expected": "支部大会应到有表决权党员",
      "vote_present": "实到有表决权党员", "votes_for": "赞成票", "approved_on": "上级党委审批日期",
      "occupation_code": "职业类别（统计）", "dues_category": "党费类别", "dues_base_fen": "党费计算基数（分/月）",
      "ended_on": "去世或离开日期",
    ],
    .meeting: [
      "kind": "会议类别", "attendee_ids": "参会党员", "attendee_count": "实到人数", "expected_count": "应到人数",
      "decisions": "决议事项", "location": "地点",
    ],
    .report: [
      "year": "年度", "period": "期次", "kind": "报告类别", "submitted_on": "上报日期", "reviewer_unit_id": "审阅单位",
      "reviewer_comment": "审阅意见", "reviewed_on": "审阅日期",
    ],
    .inspection: [
      "issuer_unit_id": "督查单位", "findings": "发现的问题", "follow_up_due": "整改期限", "follow_up_done": "整改完成日期",
      "follow_up_note": "整改情况",
    ],
    .notice: ["audience_root_id": "下发范围", "issued_on": "下发日期"],
    .liaisonPoint: [
      "cadre_id": "联系干部", "cadre_name": "干部姓名", "since": "开始日期", "until": "结束日期", "village_unit_id": "所在村",
      "problem_ids": "发现的问题",
    ],
    .lecture: ["speaker_id": "讲课人", "speaker_name": "讲课人姓名", "audience_size": "听课人数", "kind": "党课类别"],
    .supportItem: ["what": "物资", "amount_fen": "金额（分）", "quantity": "数量", "provider": "提供单位"],
    .opinion: ["source": "来源", "content": "意见内容", "category": "类别", "respondent": "反映人"],
    .problem: [
      "description": "具体情况", "opinion_ids": "相关群众意见", "identified_on": "发现日期", "resolved_on": "解决日期",
      "resolution": "解决情况",
    ],
    .commitment: [
      "member_id": "承诺人", "content": "承诺内容", "promised_on": "承诺日期", "due": "兑现期限", "fulfilled_on": "兑现日期",
      "evidence": "兑现情况",
    ],
    .serviceCase: ["beneficiaries": "受益人数", "cost_fen": "费用（分）", "problem_id": "对应问题"],
    .transfer: [
      "member_id": "党员", "member_name": "党员姓名", "to_unit_code": "转入组织代码", "to_unit_name": "转入组织名称",
      "letter_no": "介绍信编号", "reason": "转接原因", "issued_on": "开具日期", "status": "转接状态", "answered_on": "办理日期",
      "answer_note": "退回原因", "from_unit_name": "转出组织",
    ],
    .duesPayment: [
      "member_id": "党员", "from_month": "起始月份（YYYYMM）", "to_month": "截止月份（YYYYMM）", "amount_fen": "金额（分）",
      "paid_on": "交纳日期", "receipt_no": "收据编号",
    ],
    .noticeReceipt: ["notice_id": "通知", "read_on": "签收日期"],
    .assessment: [
      "kind": "类别", "year": "年度", "member_id": "党员", "content": "内容", "place": "公开地点", "reviewer": "点评领导",
      "grade": "评议等次", "participants": "参评人数", "satisfied": "满意人数", "stars": "星级", "partner": "帮扶对象",
      "completed_on": "完成日期",
    ],
  ]

  /// Values of closed sets the command line does not take in Chinese.
  static let extraChoices: [String: [String: String]] = [
    "UnitLevel": [
      "central": "中央", "province": "省级", "city": "市级", "county": "县级", "township": "乡镇", "grassroots": "基层",
    ],
    "UnitKind": [
      "committee": "党委", "working-committee": "党工委", "general-branch": "党总支", "branch": "党支部",
      "party-group": "党小组",
    ],
  ]
}

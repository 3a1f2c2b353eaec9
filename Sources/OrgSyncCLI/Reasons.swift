import OrgSyncCore
import OrgSyncProto

/// The device's and the server's rule messages in Chinese, naming the field by its label: the
/// web app always shows these, the command line under a Chinese locale. A reason with no
/// wording here is shown as the server gave it, after the field's label.
public enum Reasons {
  public static func chinese(_ reason: String, field: String, type: Orgsync_V1_RecordType = .unspecified) -> String {
    let label = Labels.field(field, of: type)
    if let fixed = fixed[reason] { return field.isEmpty ? fixed : "「\(label)」：\(fixed)" }
    let patterns: [(String, String)] = [
      (" is required", "必须填写"), (" is in the future", "不能晚于今天"), (" is not a real calendar date", "不是真实的日期"),
      (" contains control characters", "含有无法显示的字符"), (" cannot be negative", "不能是负数"),
      (" has an unknown value", "不是可选的值"), (" comes before the date it follows", "早于应在它之前的日期"),
      (" refers to no ", "指向的记录不存在"), (" is a month written YYYYMM", "须写成年月，如202603"),
    ]
    if reason.hasSuffix(" is required for this status") { return "这一人员类别须填写「\(label)」" }
    for (english, words) in patterns where reason.contains(english) { return "「\(label)」\(words)" }
    if let range = reason.range(of: " is longer than ") {
      let limit = reason[range.upperBound...].prefix { $0.isNumber }
      return "「\(label)」超过了 \(limit) 个字"
    }
    if reason.hasPrefix("a committee writes at its own level") { return "上级党委只在本级录入；这类记录由基层单位自己录入" }
    if reason.hasSuffix("belongs to a unit outside this device's subtree") { return "这条记录属于本单位管辖范围以外的单位" }
    return field.isEmpty ? reason : "「\(label)」：\(reason)"
  }

  static let fixed: [String: String] = [
    "only the receiving unit accepts or returns a transfer": "只有转入单位可以接收或退回组织关系",
    "a transfer starts when the letter is issued": "组织关系转接须从开具介绍信开始",
    "an accepted or returned transfer is final; issue a new one": "已接收或已退回的转接不能再改；如需转接请重新开具介绍信",
    "admission needs two sponsors who are full members (Detailed Rules for Recruiting Party Members)":
      "接收预备党员须有两名正式党员作入党介绍人（《中国共产党发展党员工作细则》）",
    "a sponsor must be a full member (Detailed Rules for Recruiting Party Members)": "入党介绍人须是正式党员（《中国共产党发展党员工作细则》）",
    "a development target completes the training before admission (Detailed Rules for Recruiting Party Members)":
      "发展对象须在接收前参加集中培训并结业（《中国共产党发展党员工作细则》）",
    "the branch general meeting needs more than half of its full members with a vote present (Detailed Rules for Recruiting Party Members)":
      "支部党员大会须有超过半数有表决权的正式党员到会（《中国共产党发展党员工作细则》）",
    "admission needs the votes of more than half of the full members who should attend (Detailed Rules for Recruiting Party Members)":
      "接收预备党员须经超过应到会有表决权正式党员半数赞成（《中国共产党发展党员工作细则》）",
    "admission needs the higher committee's approval, given after the branch meeting (Detailed Rules for Recruiting Party Members)":
      "接收预备党员须经上级党委审批，审批日期不早于支部党员大会（《中国共产党发展党员工作细则》）",
    "an answered transfer needs the date of the answer": "已办理的转接须填写办理日期",
    "a returned transfer says why": "退回转接须写明原因",
    "no unit has the organisation code given in to_unit_code": "没有这个组织代码的党组织，请核对介绍信",
    "a transfer goes to another unit than the member's own": "不能转入党员所在的本单位",
    "a transfer is issued by the member's own unit": "介绍信由党员所在单位开具",
    "only a full or probationary member's relationship is transferred": "只有正式党员和预备党员的组织关系可以转接",
    "to_month comes after from_month, at most two years later": "截止月份须不早于起始月份，且不超过两年",
    "more people satisfied than took part": "满意人数不能多于参评人数",
    "a branch is rated one to five stars": "星级为一至五星",
    "the notice was not addressed to this unit": "这份通知不是下发给本单位的",
    "ethnicity is not one of the 56 nationalities (e.g. 汉族, 土家族)": "须是56个民族之一（如汉族、土家族）",
    "a member has two different sponsors": "入党介绍人为两名不同的党员",
    "more members attended than had a vote": "实到人数不能多于应到人数",
    "more votes for than members present": "赞成票不能多于实到人数",
    "a farmer pays 0.2 to 1 yuan a month (20 to 100 fen)": "农民党员每月交纳党费0.2元至1元（20至100分）",
    "ended_on is for a membership that ended (deceased, left, transferred out)": "只有已故、出党或已转出的人员填写此日期",
    "the village lies outside the recording committee's subtree": "联系点所在村不在本级党委管辖范围内",
    "the member has already left the issuing unit; this transfer is moot": "该党员已不在转出单位，此转接无效",
    "a branch may edit only the contact fields of its own unit": "党支部只能修改本单位的联系信息",
    "a committee issues inspections in its own name": "督查须以本级党委的名义下发",
    "a committee moves members between its units; the branch keeps their records": "党员在单位之间转移由上级党委办理",
    "a committee reviews its units' reports; it does not write them": "上级党委审阅下级的报告，不代写",
    "a fulfilled or cancelled commitment is final": "已兑现或已取消的承诺不能再改",
    "a new report starts as a draft or submitted": "新报告只能是草稿或已上报",
    "a problem moves forward only: open → in progress → resolved": "问题状态只能向前：未解决 → 整改中 → 已解决",
    "a review acknowledges or returns a submitted report": "审阅只能是“已审阅”或“退回”",
    "moving this record needs rights over both the old and the new unit": "转移这条记录需要同时管辖原单位和新单位",
    "only a draft report can be deleted": "只有草稿报告可以删除",
    "only a submitted report can be reviewed": "只有已上报的报告可以审阅",
    "only the reviewing unit acknowledges or returns a report": "只有审阅单位可以审阅或退回报告",
    "the report was acknowledged and is final": "报告已审阅，不能再改",
    "the report was submitted: it is read-only until the reviewing unit returns it": "报告已上报：在审阅单位退回之前不能修改",
    "this device has no role": "这台电脑没有权限",
    "an applicant must be at least 18 years old when applying": "递交入党申请时须年满 18 岁",
    "a notice goes to the issuer's own subtree": "通知只能发给本级及下级单位",
    "liaison points are set up by leading cadres": "联系点须由领导干部建立",
    "the code may hold only letters, digits and '-'": "编码只能包含字母、数字和“-”",
    "a fulfilled commitment needs the date it was fulfilled": "已兑现的承诺须填写兑现日期",
    "a full member needs the date of full membership": "正式党员须填写转正日期",
    "an inspection is issued by a unit above the inspected one": "督查须由被督查单位的上级下发",
    "a unit must sit below its parent's level": "单位层级须低于上级单位",
    "a unit cannot be its own parent": "单位不能是自己的上级",
    "the period does not match the kind of report": "期次与报告类别不符",
    "say how the problem was resolved": "请写明问题是怎样解决的",
    "a resolved problem needs its date": "已解决的问题须填写解决日期",
    "a returned report needs a comment saying why": "退回报告须写明原因",
    "the reviewer must be a unit above the reporting one": "审阅单位须是报告单位的上级",
    "a submitted report needs its submission date": "已上报的报告须填写上报日期",
    "the year must be between 2000 and 2100": "年度须在 2000 到 2100 之间",
    "the record has no body": "记录没有内容",
    "a member moves one stage at a time: applicant → activist → development target → probationary → full (Regulations on Recruiting Party Members)":
      "发展党员须按入党申请人 → 入党积极分子 → 发展对象 → 预备党员 → 正式党员逐步进行（《中国共产党发展党员工作细则》）",
    "a member does not go back a stage; a probationary member whose membership is cancelled is recorded as left":
      "人员类别不能倒退；取消预备党员资格的，记为“出党”",
    "a development target has been an activist for at least one year (Regulations on Recruiting Party Members)":
      "入党积极分子经过一年以上培养教育和考察，才能列为发展对象（《中国共产党发展党员工作细则》）",
    "probation lasts one year before a member becomes full (Party Constitution)": "预备党员的预备期为一年，期满才能转为正式党员（《中国共产党章程》）",
    "probation may be extended by one year at most (Party Constitution)": "延长预备期不能超过一年（《中国共产党章程》）",
  ]
}

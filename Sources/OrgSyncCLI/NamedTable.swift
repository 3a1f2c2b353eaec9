import Foundation
import OrgSyncCore
import OrgSyncProto

/// A list a county office follows up by name (cadres, branches, members, problems, promises),
/// with its Chinese heading and columns: the same tables on the web dashboard, in its .xlsx
/// files and from `orgsync lists`.
public struct NamedTable: Sendable {
  public var id: String
  public var heading: String
  public var columns: [String]
  public var rows: [[String]]

  public init(id: String, heading: String, columns: [String], rows: [[String]]) {
    self.id = id
    self.heading = heading
    self.columns = columns
    self.rows = rows
  }

  /// The named lists of a roll-up. `records` holds the named records by id (members, problems,
  /// promises), `units` the units of the copy; `periodLabel` reads like "2026年第三季度".
  public static func lists(
    rollUp: Orgsync_V1_RollUp, named: RollUpBuilder.Named, records: [[UInt8]: Orgsync_V1_RecordBody],
    owners: [[UInt8]: [UInt8]], units: [[UInt8]: Orgsync_V1_OrgUnit], year: Int32, periodLabel: String,
    today: Orgsync_V1_Date
  ) -> [NamedTable] {
    let unitName: ([UInt8]) -> String = { units[$0]?.name ?? "" }
    let unitCode: ([UInt8]) -> String = { units[$0]?.code ?? "" }
    func member(_ id: [UInt8]) -> (unit: [UInt8], cells: [String]) {
      guard let body = records[id], let owner = owners[id] else { return ([], [RecordID.string(id), "", ""]) }
      return (owner, [body.member.name, unitName(owner), body.member.cadreTitle])
    }
    func sorted(_ items: [(unit: [UInt8], cells: [String])]) -> [[String]] {
      items.sorted { (unitCode($0.unit), $0.cells[0]) < (unitCode($1.unit), $1.cells[0]) }.map(\.cells)
    }
    let date: (Orgsync_V1_Date) -> String = { $0.year == 0 ? "" : CalendarDate.string($0) }
    return [
      NamedTable(
        id: "late", heading: "未按时上报\(periodLabel)报告的单位", columns: ["单位", "单位编码"],
        rows: rollUp.total.lateUnitIds.map { [unitName(Array($0)), unitCode(Array($0))] }),
      NamedTable(
        id: "no-lecture", heading: "\(year)年未讲党课的领导干部", columns: ["姓名", "单位", "职务"],
        rows: sorted(named.cadresWithoutLecture.map(member))),
      NamedTable(
        id: "liaison", heading: "联系点不是 1–2 个的领导干部", columns: ["姓名", "单位", "职务", "有效联系点"],
        rows: sorted(
          named.cadresLiaisonOff.map { item in
            let found = member(item.cadre)
            return (found.unit, found.cells + [String(item.points)])
          })),
      NamedTable(
        id: "organisational-life", heading: "三会一课未达要求的支部（已过的整月计）",
        columns: ["单位", "支部党员大会", "支委会", "党小组会", "党课"],
        rows: sorted(
          named.behindSchedule.map { item in
            let cells = [
              (item.held.branchGeneral, item.owed.branchGeneral),
              (item.held.branchCommittee, item.owed.branchCommittee),
              (item.held.partyGroup, item.owed.partyGroup), (item.held.lectures, item.owed.lectures),
            ].map { held, owed in held < owed ? "\(held)/\(owed) ✗" : "\(held)/\(owed)" }
            return (item.unit, [unitName(item.unit)] + cells)
          })),
      NamedTable(
        id: "conversions", heading: "预备期已满一年、尚未转正的预备党员", columns: ["姓名", "单位", "接收为预备党员", "预备期满", "已超过（天）"],
        rows: sorted(
          named.conversionsDue.map { item in
            let found = member(item.member)
            var due = item.since
            due.year += 1
            let over = CalendarDate.dayNumber(today) - CalendarDate.dayNumber(due)
            return (found.unit, [found.cells[0], found.cells[1], date(item.since), date(due), String(max(0, over))])
          })),
      NamedTable(
        id: "activists", heading: "培养考察满一年的入党积极分子（可列为发展对象）", columns: ["姓名", "单位", "确定为积极分子"],
        rows: sorted(
          named.activistsReady.map { item in
            let found = member(item.member)
            return (found.unit, [found.cells[0], found.cells[1], date(item.since)])
          })),
      NamedTable(
        id: "problems", heading: "未解决的问题", columns: ["问题", "单位", "发现日期", "状态"],
        rows: sorted(
          named.openProblems.compactMap { id in records[id].map { (id, $0) } }.map { id, body in
            let p = body.problem
            let owner = owners[id] ?? []
            return (
              owner,
              [
                p.title, unitName(owner), date(p.identifiedOn),
                Labels.choice(RecordPresentation.choiceName(p.status), enum: "ProblemStatus"),
              ]
            )
          })),
      NamedTable(
        id: "promises", heading: "逾期未兑现的承诺", columns: ["承诺内容", "单位", "兑现期限"],
        rows: sorted(
          named.overdueCommitments.compactMap { id in records[id].map { (id, $0) } }.map { id, body in
            let c = body.commitment
            let owner = owners[id] ?? []
            return (owner, [c.content, unitName(owner), date(c.due)])
          })),
      NamedTable(
        id: "inspections", heading: "督查整改逾期未完成", columns: ["督查发现", "单位", "整改期限", "已逾期（天）"],
        rows: sorted(
          named.overdueInspections.compactMap { id in records[id].map { (id, $0) } }.map { id, body in
            let i = body.inspection
            let owner = owners[id] ?? []
            let over = CalendarDate.dayNumber(today) - CalendarDate.dayNumber(i.followUpDue)
            return (owner, [String(i.findings.prefix(40)), unitName(owner), date(i.followUpDue), String(over)])
          })),
      NamedTable(
        id: "kept-late", heading: "逾期兑现的承诺", columns: ["承诺内容", "单位", "兑现期限", "兑现日期"],
        rows: sorted(
          named.keptLate.compactMap { id in records[id].map { (id, $0) } }.map { id, body in
            let c = body.commitment
            let owner = owners[id] ?? []
            return (owner, [c.content, unitName(owner), date(c.due), date(c.fulfilledOn)])
          })),
      NamedTable(
        id: "transfers", heading: "在途的组织关系转接（已开介绍信、对方未办理）",
        columns: ["党员", "转出单位", "转入单位", "介绍信编号", "开具日期", "在途天数"],
        rows: sorted(
          named.transfersInTransit.compactMap { id in records[id].map { (id, $0) } }.map { id, body in
            let t = body.transfer
            let owner = owners[id] ?? []
            let days = CalendarDate.dayNumber(today) - CalendarDate.dayNumber(t.issuedOn)
            let from = unitName(owner).isEmpty ? t.fromUnitName : unitName(owner)
            return (owner, [t.memberName, from, t.toUnitName, t.letterNo, date(t.issuedOn), String(max(0, days))])
          })),
      NamedTable(
        id: "notices-unread", heading: "\(periodLabel)未签收通知的基层组织", columns: ["单位", "通知"],
        rows: named.noticesUnread.map { [unitName($0.unit), records[$0.notice]?.notice.title ?? ""] }
          .sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }),
      NamedTable(
        id: "dues-arrears", heading: "连续六个月以上未交纳党费的党员", columns: ["姓名", "单位", "未交月数"],
        rows: named.duesArrears.map { item in
          let found = member(item.member)
          return [found.cells[0], found.cells[1], String(item.months)]
        }),
    ]
  }
}

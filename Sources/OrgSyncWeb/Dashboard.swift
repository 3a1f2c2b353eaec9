import Foundation
import Hummingbird
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto

/// The county office's view: the roll-up of any unit of its subtree for a period, computed
/// from the PC's own copy (so it works offline), with the late units named and a chart of the
/// reporting rate per unit one level down; each unit's name leads one level further.
extension WebApp {
  static let periods: [(Orgsync_V1_ReportPeriod, String, String)] = [
    (.q1, "Q1", "第一季度"), (.q2, "Q2", "第二季度"), (.q3, "Q3", "第三季度"), (.q4, "Q4", "第四季度"),
    (.h1, "H1", "上半年"), (.h2, "H2", "下半年"), (.year, "", "全年"),
  ]

  /// "2026-Q3" → (2026, .q3); the last full quarter when nothing (or nonsense) is given.
  func period(_ text: String?) -> (Int32, Orgsync_V1_ReportPeriod) {
    let parts = (text ?? "").uppercased().split(separator: "-")
    if let year = parts.first.flatMap({ Int32($0) }), (2000...2100).contains(year) {
      if parts.count == 1 { return (year, .year) }
      if let found = Self.periods.first(where: { $0.1 == parts[1] }) { return (year, found.0) }
    }
    let month = Int(today.month)
    let quarter = (month - 1) / 3  // the quarter before the current one
    return quarter == 0 ? (today.year - 1, .q4) : (today.year, Self.periods[quarter - 1].0)
  }

  static func periodText(_ year: Int32, _ period: Orgsync_V1_ReportPeriod) -> (value: String, label: String) {
    let found = periods.first { $0.0 == period }
    let code = found.map { $0.1.isEmpty ? "" : "-" + $0.1 } ?? ""
    return ("\(year)\(code)", "\(year)年\(found?.2 ?? "")")
  }

  func dashboard(_ request: Request) async throws -> Response {
    let (year, period) = self.period(request.uri.queryParameters.get("period"))
    let root = request.uri.queryParameters.get("unit").flatMap(RecordID.parse) ?? identity.unitID
    let today = self.today
    let (rollUp, units, lastSync) = try await replica.blocking { replica in
      (
        try replica.rollUp(root: root, year: year, period: period, today: today), try replica.units(),
        try replica.lastSync()
      )
    }
    let text = Self.periodText(year, period)
    let hasChildren = Set(units.values.map { Array($0.parentID) })
    let rows: [[String: Any]] =
      rollUp.rows.map { row in
        let id = Array(row.unitID)
        var item: [String: Any] = ["name": row.name, "period": text.value, "cells": Self.cells(row)]
        // The root's own row (its own cadres) leads nowhere new; absent: no link.
        if hasChildren.contains(id), id != root { item["link"] = RecordID.string(id) }
        return item
      } + [["name": "合计", "period": text.value, "cells": Self.cells(rollUp.total)]]
    let late = rollUp.total.lateUnitIds.map { units[Array($0)]?.name ?? RecordID.string(Array($0)) }
    let parent = root == identity.unitID ? nil : units[root].map { RecordID.string(Array($0.parentID)) }
    let choices: [[String: Any]] = (0..<3).flatMap { back in
      Self.periods.map { item in
        let option = Self.periodText(year - Int32(back), item.0)
        return ["value": option.value, "label": option.label, "selected": option.value == text.value] as [String: Any]
      }
    }
    return try await html(
      "dashboard",
      [
        "root": rollUp.total.name, "periodLabel": text.label, "period": text.value, "unit": RecordID.string(root),
        "periods": choices, "asOf": rollUp.asOf, "lastSync": localTime(lastSync),
        "late": late, "hasLate": !late.isEmpty, "chart": Self.chart(rollUp.rows), "columns": Self.columns,
        "rows": rows,
      ].merging(parent.map { ["parent": $0] } ?? [:]) { a, _ in a }, title: "汇总")
  }

  static let columns = [
    "单位", "基层组织", "党员", "预备党员", "入党积极分子等", "领导干部", "报告已交/应交", "逾期未交", "逾期补交", "未讲党课的干部",
    "联系点不符的干部", "群众意见", "未解决问题", "已解决", "承诺到期", "按期兑现", "逾期未兑现", "会议", "服务事项",
  ]

  static func cells(_ r: Orgsync_V1_UnitRollUp) -> [String] {
    [
      r.units, r.partyMembers, UInt32(r.membersByStatus.first { $0.status == .probationary }?.count ?? 0),
      r.inPipeline, r.leadingCadres,
    ].map(String.init)
      + ["\(r.reportsSubmitted)/\(r.reportsDue)"]
      + [
        r.reportsLate, r.reportsSubmittedLate, r.cadresWithoutLecture, r.cadresLiaisonOff, r.opinions, r.problemsOpen,
        r.problemsResolved, r.commitmentsDue, r.commitmentsFulfilledOnTime, r.commitmentsOverdue, r.meetings,
        r.serviceCases,
      ].map(String.init)
  }

  /// Horizontal bars, one per unit: the share of its grassroots units that reported. Drawn on
  /// the server as SVG (no script, prints as it shows); units with late reports in red.
  static func chart(_ rows: [Orgsync_V1_UnitRollUp]) -> String {
    let due = rows.filter { $0.reportsDue > 0 }
    guard !due.isEmpty else { return "<p>这一期没有应交的报告。</p>" }
    let rowHeight = 26
    let labelWidth = 220
    let barWidth = 420
    let height = due.count * rowHeight + 10
    var svg =
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(labelWidth + barWidth + 90)\" height=\"\(height)\" role=\"img\" aria-label=\"报告上报率\">"
    for (index, row) in due.enumerated() {
      let y = index * rowHeight + 5
      let share = Double(row.reportsSubmitted) / Double(row.reportsDue)
      let color = row.reportsLate > 0 ? "#c62828" : "#2e7d32"
      svg += "<text x=\"0\" y=\"\(y + 17)\" font-size=\"14\">\(escape(row.name))</text>"
      svg += "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(barWidth)\" height=\"20\" fill=\"#eee\"/>"
      svg +=
        "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(Int(share * Double(barWidth)))\" height=\"20\" fill=\"\(color)\"/>"
      svg +=
        "<text x=\"\(labelWidth + barWidth + 8)\" y=\"\(y + 16)\" font-size=\"14\">\(Int((share * 100).rounded()))% (\(row.reportsSubmitted)/\(row.reportsDue))</text>"
    }
    return svg + "</svg>"
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }
}

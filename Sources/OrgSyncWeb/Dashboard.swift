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

  /// A table of the dashboard: shown on the page and downloadable as .xlsx by its id.
  struct DashboardTable {
    var id: String
    var heading: String
    var columns: [String]
    var rows: [[String]]
    /// The first cell's link (drill-down), per row; nil: no link.
    var links: [String?] = []
  }

  struct DashboardView {
    var root: [UInt8]
    var rootName: String
    var year: Int32
    var period: Orgsync_V1_ReportPeriod
    var asOf: String
    var lastSync: String
    var late: [String]
    var chart: String
    var parent: String?
    var tables: [DashboardTable]
  }

  /// Rows of a named list shown on the page; the .xlsx holds them all.
  static let shownRows = 100

  func dashboardView(_ request: Request) async throws -> DashboardView {
    let (year, period) = self.period(request.uri.queryParameters.get("period"))
    let root = request.uri.queryParameters.get("unit").flatMap(RecordID.parse) ?? identity.unitID
    let today = self.today
    let standard = lifeStandard
    let (rollUp, named, units, lastSync, records) = try await replica.blocking { replica in
      let (rollUp, named) = try replica.namedRollUp(
        root: root, year: year, period: period, today: today, lifeStandard: standard)
      return (rollUp, named, try replica.units(), try replica.lastSync(), try replica.records(ids: named.recordIDs))
    }
    let text = Self.periodText(year, period)
    let hasChildren = Set(units.values.map { Array($0.parentID) })
    var rollUpTable = DashboardTable(
      id: "rollup", heading: "\(rollUp.total.name) \(text.label)汇总", columns: Self.columns, rows: [])
    for row in rollUp.rows {
      let id = Array(row.unitID)
      rollUpTable.rows.append([row.name] + Self.cells(row))
      // The root's own row (its own cadres) leads nowhere new.
      rollUpTable.links.append(hasChildren.contains(id) && id != root ? RecordID.string(id) : nil)
    }
    rollUpTable.rows.append(["合计"] + Self.cells(rollUp.total))
    rollUpTable.links.append(nil)
    var lifecycle = DashboardTable(
      id: "rollup-members", heading: "党员队伍、党费、评议考核与督查", columns: Self.lifecycleColumns, rows: [])
    for row in rollUp.rows + [rollUp.total] {
      lifecycle.rows.append(
        [lifecycle.rows.count == rollUp.rows.count ? "合计" : row.name] + RollUpTable.lifecycleCells(row))
    }
    let late = rollUp.total.lateUnitIds.map { units[Array($0)]?.name ?? RecordID.string(Array($0)) }
    let tables =
      [rollUpTable, lifecycle]
      + NamedTable.lists(
        rollUp: rollUp, named: named, records: records.mapValues(\.body), owners: records.mapValues(\.unitID),
        units: units, year: year, periodLabel: text.label, today: today
      ).map { DashboardTable(id: $0.id, heading: $0.heading, columns: $0.columns, rows: $0.rows) }
    return DashboardView(
      root: root, rootName: rollUp.total.name, year: year, period: period, asOf: rollUp.asOf,
      lastSync: localTime(lastSync), late: late, chart: Self.chart(rollUp.rows),
      parent: root == identity.unitID ? nil : units[root].map { RecordID.string(Array($0.parentID)) },
      tables: tables)
  }

  func dashboard(_ request: Request) async throws -> Response {
    let view = try await dashboardView(request)
    let text = Self.periodText(view.year, view.period)
    let choices: [[String: Any]] = (0..<3).flatMap { back in
      Self.periods.map { item in
        let option = Self.periodText(view.year - Int32(back), item.0)
        return ["value": option.value, "label": option.label, "selected": option.value == text.value] as [String: Any]
      }
    }
    let query = "unit=\(RecordID.string(view.root))&period=\(text.value)"
    let tables: [[String: Any]] = view.tables.enumerated().map { index, table in
      var item: [String: Any] = [
        "id": table.id, "heading": table.heading, "columns": Array(table.columns.dropFirst()),
        "first": table.columns.first ?? "", "count": table.rows.count, "query": query, "isRollUp": index == 0,
        "rows": table.rows.prefix(index == 0 ? table.rows.count : Self.shownRows).enumerated().map { r, cells in
          var row: [String: Any] = ["name": cells.first ?? "", "cells": Array(cells.dropFirst())]
          if r < table.links.count, let link = table.links[r] { row["link"] = link }
          return row
        },
      ]
      if table.rows.count > Self.shownRows, index > 0 { item["more"] = table.rows.count - Self.shownRows }
      if table.rows.isEmpty { item["none"] = true }
      return item
    }
    var page: [String: Any] = [
      "root": view.rootName, "periodLabel": text.label, "period": text.value, "unit": RecordID.string(view.root),
      "periods": choices, "asOf": view.asOf, "lastSync": view.lastSync, "late": view.late,
      "hasLate": !view.late.isEmpty, "chart": view.chart, "rollUp": tables[0], "lists": Array(tables.dropFirst()),
    ]
    if let parent = view.parent { page["parent"] = parent }
    return try await html("dashboard", page, title: "汇总")
  }

  /// One dashboard table as an Excel workbook (`/dashboard.xlsx?table=…&unit=…&period=…`).
  func dashboardSheet(_ request: Request) async throws -> Response {
    let view = try await dashboardView(request)
    let wanted = request.uri.queryParameters.get("table") ?? "rollup"
    guard let table = view.tables.first(where: { $0.id == wanted }) else { return notFound }
    return try Spreadsheet(sheetName: table.heading, columns: table.columns, rows: table.rows)
      .response(file: "\(table.heading).xlsx")
  }

  static let columns = [
    "单位", "基层组织", "党员", "预备党员", "入党积极分子等", "领导干部", "报告已交/应交", "逾期未交", "逾期补交", "未讲党课的干部",
    "联系点不符的干部", "群众意见", "未解决问题", "已解决", "承诺到期", "按期兑现", "逾期未兑现", "会议", "服务事项",
  ]

  /// The second table's columns (`RollUpTable.lifecycleColumns`, in the office's words).
  static let lifecycleColumns = [
    "单位", "转接在途", "转出", "转入", "应交党费（元）", "实交党费（元）", "连续6月未交", "预备期满待转正", "积极分子满一年", "督查整改逾期",
    "下发通知", "帮扶物资（件）", "帮扶物资（元）", "承诺逾期兑现", "公开承诺", "领导点评", "民主评议人数", "评为不合格", "结对帮扶", "年初目标",
    "目标完成", "评星支部", "平均星级", "支部党员大会", "支委会", "党小组会", "党课", "正式党员", "入党申请人", "入党积极分子", "发展对象", "已转出",
    "已故", "出党", "通知未签收",
  ]

  /// A roll-up row's figures, in the order of `columns` after the unit's name.
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

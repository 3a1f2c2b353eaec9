import Foundation
import Hummingbird
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto

/// The year-end statistics page (党内统计年报): the tallies as of 31 December for this office's
/// subtree (or a unit below it), and the same lines as one Excel sheet.
extension WebApp {
  func statisticsView(_ request: Request) async throws -> (YearEndStatistics, String) {
    let asked = request.uri.queryParameters.get("year").flatMap { Int32($0) } ?? today.year - 1
    let year = (2000...2100).contains(asked) ? asked : today.year - 1
    let root = request.uri.queryParameters.get("unit").flatMap(RecordID.parse) ?? identity.unitID
    let (members, transfers, name) = try await replica.blocking { replica in
      (try replica.members(under: root), try replica.transfers(under: root), try replica.units()[root]?.name ?? "")
    }
    return (YearEndStatistics(members: members, year: year, transfers: transfers), name)
  }

  func statistics(_ request: Request) async throws -> Response {
    let (stats, name) = try await statisticsView(request)
    var tables: [[String: Any]] = []
    for line in stats.lines {
      if tables.last?["name"] as? String != line.table {
        tables.append(["name": line.table, "rows": [[String: Any]]()])
      }
      var rows = tables[tables.count - 1]["rows"] as? [[String: Any]] ?? []
      rows.append(["row": line.row, "count": line.count])
      tables[tables.count - 1]["rows"] = rows
    }
    let years = (0..<5).map { back -> [String: Any] in
      let year = today.year - Int32(back)
      return ["value": year, "selected": year == stats.year]
    }
    return try await html(
      "statistics", ["unitName": name, "year": stats.year, "years": years, "tables": tables], title: "年报统计")
  }

  func statisticsSheet(_ request: Request) async throws -> Response {
    let (stats, name) = try await statisticsView(request)
    let sheet = Spreadsheet(
      sheetName: "\(stats.year)年党内统计", columns: ["表", "项目", "人数"],
      rows: stats.lines.map { [$0.table, $0.row, String($0.count)] })
    return try sheet.response(file: "\(name)\(stats.year)年党内统计.xlsx")
  }
}

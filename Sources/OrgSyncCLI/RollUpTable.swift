import Foundation
import OrgSyncProto

/// The county office's roll-up table.
public enum RollUpTable {
  public static let columns = [
    "unit", "units", "party members", "probationary", "in pipeline", "cadres", "reports", "acknowledged", "late",
    "in late",
    "no lecture", "liaison off", "opinions",
    "problems open", "resolved", "median days", "promises due", "kept on time", "overdue", "meetings", "services",
  ]

  public static func row(_ r: Orgsync_V1_UnitRollUp, name: String) -> [String] {
    [
      name, String(r.units), String(r.partyMembers),
      String(r.membersByStatus.first { $0.status == .probationary }?.count ?? 0), String(r.inPipeline),
      String(r.leadingCadres), "\(r.reportsSubmitted)/\(r.reportsDue)",
      String(r.reportsAcknowledged), String(r.reportsLate), String(r.reportsSubmittedLate),
      String(r.cadresWithoutLecture), String(r.cadresLiaisonOff),
      String(r.opinions), String(r.problemsOpen), String(r.problemsResolved),
      r.problemsResolved == 0 ? "-" : String(format: "%.1f", r.medianDaysToResolve), String(r.commitmentsDue),
      String(r.commitmentsFulfilledOnTime), String(r.commitmentsOverdue), String(r.meetings), String(r.serviceCases),
    ]
  }

  public static func render(
    _ rollUp: Orgsync_V1_RollUp, format: OutputFormat, unitName: ([UInt8]) -> String? = { _ in nil }
  ) -> String {
    var table = Table(columns: columns)
    for column in columns where !["unit", "reports"].contains(column) { table.kinds[column] = .integer }
    table.kinds["median days"] = .number
    for r in rollUp.rows { table.rows.append(row(r, name: r.name)) }
    table.rows.append(row(rollUp.total, name: "total"))
    guard format == .table else { return table.render(format) }
    let period = "\(rollUp.year) \(String(describing: rollUp.period).uppercased())"
    var out = "\(rollUp.total.name) — \(period), as of \(rollUp.asOf)\n\n" + table.aligned()
    let late = rollUp.total.lateUnitIds.map { unitName(Array($0)) ?? "?" }
    if !late.isEmpty { out += "\n\nlate with the \(period) report: " + late.joined(separator: "、") }
    return out
  }
}

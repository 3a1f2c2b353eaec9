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

  /// One line per column saying what it counts (`orgsync aggregate --definitions`).
  public static let definitions: [String: String] = [
    "unit": "the unit: each child of the root, then the root's own row (its own cadres), then the total",
    "units": "grassroots units that existed in the period (founded by its end, not dissolved before its start)",
    "party members":
      "full and probationary members (records of applicants, the deceased and those gone are not members)",
    "probationary": "probationary members (预备党员)",
    "in pipeline": "applicants, activists and development targets",
    "cadres": "members marked as leading cadres",
    "reports": "grassroots units whose best report for the period is submitted or acknowledged / units owing one",
    "acknowledged": "of those, reports the reviewing unit acknowledged",
    "late": "units with no submitted report 15 days after the period's end",
    "in late": "reports submitted after that deadline (late even though they arrived)",
    "no lecture": "leading cadres with no lecture this year given at a grassroots unit and already held",
    "liaison off": "leading cadres with no live liaison point, or more than two",
    "opinions": "opinions collected from the people dated in the period",
    "problems open": "problems identified by the period's end and not resolved by then",
    "resolved": "problems resolved in the period",
    "median days": "median days from identification to resolution of those",
    "promises due": "promises due in the period, not cancelled",
    "kept on time": "of those, fulfilled on or before their date",
    "overdue": "of those, not fulfilled and past their date today",
    "meetings": "meetings held in the period",
    "services": "service cases in the period",
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

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
    "reports":
      "grassroots units and township committees whose best report for the period is submitted or acknowledged / those owing one",
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
    "in transit": "transfers issued by units here and not yet accepted or returned",
    "moved out": "transfers accepted this year that took a member out of this part of the tree",
    "moved in": "transfers accepted this year that brought a member in from outside it",
    "dues owed":
      "party dues (yuan) owed for this year's months up to the period's end (or last month), in units keeping their dues ledger here",
    "dues paid": "of those months, the part paid (yuan; a payment for several months counts per month)",
    "dues behind": "party members six months or more behind with dues (units keeping dues here)",
    "conversion due": "probationary members a year or more into probation, not converted",
    "activists ready": "activists of a year or more, not yet development targets",
    "inspections overdue": "inspections whose follow-up date has passed, follow-up not done",
    "notices": "notices issued in the period",
    "support": "material support items given in the period",
    "support yuan": "their value in yuan",
    "kept late": "promises due in the period, fulfilled after their date",
    "pledges": "公开承诺 made public this year",
    "remarks": "领导点评 given this year",
    "rated": "members rated in this year's 民主评议 (each member's latest rating)",
    "rated unfit": "of those, rated 不合格",
    "pairings": "结对帮扶 begun by the period's end and not ended",
    "targets": "年初目标 set for this year",
    "targets met": "of those, met",
    "units rated": "grassroots units with a 评星定级 this year",
    "stars": "their average stars",
    "general meetings": "支部党员大会 held in the period",
    "committee meetings": "支委会 held in the period",
    "group meetings": "党小组会 held in the period",
    "lectures": "党课 given in the period at units here",
    "full": "full members on the period's last day",
    "applicants": "applicants on the period's last day (入党申请人)",
    "activists": "activists on the period's last day (入党积极分子)",
    "development targets": "development targets on the period's last day (发展对象)",
    "transferred out": "member records marked transferred out (and not ended after the period)",
    "deceased": "member records of the deceased (died by the period's end, or with no date)",
    "left": "member records of those who left the party (by the period's end, or with no date)",
    "notices unread":
      "notices issued in the period, counted once per grassroots unit addressed that has not signed for it",
  ]

  /// The member lifecycle, dues, assessment and follow-up figures: a second table in the
  /// terminal, further columns in JSON and CSV.
  public static let lifecycleColumns = [
    "in transit", "moved out", "moved in", "dues owed", "dues paid", "dues behind", "conversion due",
    "activists ready", "inspections overdue", "notices", "support", "support yuan", "kept late", "pledges", "remarks",
    "rated", "rated unfit", "pairings", "targets", "targets met", "units rated", "stars", "general meetings",
    "committee meetings", "group meetings", "lectures", "full", "applicants", "activists", "development targets",
    "transferred out", "deceased", "left", "notices unread",
  ]

  /// A row's lifecycle figures, in the order of `lifecycleColumns`.
  public static func lifecycleCells(_ r: Orgsync_V1_UnitRollUp) -> [String] {
    let yuan: (Int64) -> String = { String(format: "%.2f", Double($0) / 100) }
    let counts: (UInt32...) -> [String] = { $0.map(String.init) }
    let statuses: [Orgsync_V1_MemberStatus] = [
      .full, .applicant, .activist, .developmentTarget, .transferredOut, .deceased, .left,
    ]
    var cells = counts(r.transfersInTransit, r.transfersOut, r.transfersIn)
    cells += [yuan(r.duesDueFen), yuan(r.duesPaidFen)]
    cells += counts(r.duesArrears, r.conversionsDue, r.activistsReady, r.inspectionsOverdue, r.notices, r.supportItems)
    cells.append(yuan(r.supportFen))
    cells += counts(
      r.commitmentsKeptLate, r.pledgesPublic, r.leaderReviews, r.membersReviewed, r.membersIncompetent,
      r.pairingsActive, r.targetsSet, r.targetsMet, r.unitsRated)
    cells.append(r.unitsRated == 0 ? "-" : String(format: "%.1f", Double(r.stars) / Double(r.unitsRated)))
    cells += counts(r.generalMeetings, r.committeeMeetings, r.partyGroupMeetings, r.lectures)
    for status in statuses {
      cells.append(String(r.membersByStatus.first { $0.status == status }?.count ?? 0))
    }
    cells.append(String(r.noticesUnread))
    return cells
  }

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

  /// Every column, as JSON and CSV carry them.
  public static let allColumns = columns + lifecycleColumns

  public static func render(
    _ rollUp: Orgsync_V1_RollUp, format: OutputFormat, unitName: ([UInt8]) -> String? = { _ in nil }
  ) -> String {
    var table = Table(columns: allColumns)
    for column in allColumns where !["unit", "reports"].contains(column) { table.kinds[column] = .integer }
    for column in ["median days", "dues owed", "dues paid", "support yuan", "stars"] { table.kinds[column] = .number }
    for r in rollUp.rows { table.rows.append(row(r, name: r.name) + lifecycleCells(r)) }
    table.rows.append(row(rollUp.total, name: "total") + lifecycleCells(rollUp.total))
    guard format == .table else { return table.render(format) }
    let period = "\(rollUp.year) \(String(describing: rollUp.period).uppercased())"
    var main = Table(columns: columns)
    main.rows = table.rows.map { Array($0.prefix(columns.count)) }
    var lifecycle = Table(columns: ["unit"] + lifecycleColumns)
    lifecycle.rows = table.rows.map { [$0[0]] + $0.dropFirst(columns.count) }
    var out = "\(rollUp.total.name) — \(period), as of \(rollUp.asOf)\n\n" + main.aligned()
    out += "\n\nmembers, dues, assessment and follow-up:\n\n" + lifecycle.aligned()
    let late = rollUp.total.lateUnitIds.map { unitName(Array($0)) ?? "?" }
    if !late.isEmpty { out += "\n\nlate with the \(period) report: " + late.joined(separator: "、") }
    return out
  }
}

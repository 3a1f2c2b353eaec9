import OrgSyncProto

/// The roll-up's small rules of arithmetic, apart from the builder's state: a period's days, a
/// report's rank, headcounts by status, medians.
extension RollUpBuilder {
  /// First and last day of a period.
  public static func range(year: Int32, period: Orgsync_V1_ReportPeriod) -> (Orgsync_V1_Date, Orgsync_V1_Date) {
    let (first, last): (Int, Int) =
      switch period {
      case .q1: (1, 3)
      case .q2: (4, 6)
      case .q3: (7, 9)
      case .q4: (10, 12)
      case .h1: (1, 6)
      case .h2: (7, 12)
      default: (1, 12)
      }
    let y = Int(year)
    return (
      CalendarDate.make(y, first, 1),
      CalendarDate.make(y, last, Int(CalendarDate.daysInMonth(year: year, month: Int32(last))))
    )
  }

  /// How far a report has got: the best of a unit's reports for the period counts.
  static func rank(_ status: Orgsync_V1_ReportStatus) -> Int {
    switch status {
    case .returned: 1
    case .submitted: 2
    case .acknowledged: 3
    default: 0
    }
  }

  /// Party members (full and probationary: those the Party counts as members) and the
  /// development pipeline, from the counts by status. Member records of other statuses —
  /// transferred out, deceased, left — are in `members` only.
  static func setHeadcounts(_ row: inout Orgsync_V1_UnitRollUp, _ counts: [Orgsync_V1_MemberStatus: UInt32]) {
    row.partyMembers = (counts[.full] ?? 0) + (counts[.probationary] ?? 0)
    row.inPipeline = (counts[.applicant] ?? 0) + (counts[.activist] ?? 0) + (counts[.developmentTarget] ?? 0)
  }

  static func statusCounts(_ counts: [Orgsync_V1_MemberStatus: UInt32]) -> [Orgsync_V1_StatusCount] {
    counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { status, count in
      var entry = Orgsync_V1_StatusCount()
      entry.status = status
      entry.count = count
      return entry
    }
  }

  static func median(_ values: [Int]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? Double(sorted[mid]) : Double(sorted[mid - 1] + sorted[mid]) / 2
  }
}

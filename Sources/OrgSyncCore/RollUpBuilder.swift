import Foundation
import OrgSyncProto

/// Computes a roll-up of a subtree for a period, from records fed one at a time. The server
/// feeds it from its database and a client from its replica: one implementation, so the county
/// office sees the same numbers online and offline.
///
/// Feed all units first (`addUnit`), then any records in any order (`add`); `build()` answers.
public struct RollUpBuilder {
  public let root: [UInt8]
  public let year: Int32
  public let period: Orgsync_V1_ReportPeriod
  public let today: Orgsync_V1_Date
  let start: Orgsync_V1_Date
  let end: Orgsync_V1_Date

  struct UnitInfo {
    var parent: [UInt8]
    var name: String
    var code: String
    var level: Orgsync_V1_UnitLevel
  }

  var units: [[UInt8]: UnitInfo] = [:]
  var branchOf: [[UInt8]: [UInt8]] = [:]  // unit → the root's child above it (or the root)
  var rows: [[UInt8]: Accumulator] = [:]
  var cadres: [[UInt8]: [UInt8]] = [:]  // cadre member id → row
  var lectured: Set<[UInt8]> = []
  var liaison: [[UInt8]: Int] = [:]
  var reported: [[UInt8]: Orgsync_V1_ReportStatus] = [:]  // grassroots unit → best status for the period

  struct Accumulator {
    var row = Orgsync_V1_UnitRollUp()
    var byStatus: [Orgsync_V1_MemberStatus: UInt32] = [:]
    var resolveDays: [Int] = []
  }

  public init(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date) {
    self.root = root
    self.year = year
    self.period = period
    self.today = today
    (start, end) = Self.range(year: year, period: period)
  }

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

  /// Reports are due 15 days after the period ends.
  public var deadline: Orgsync_V1_Date {
    let day = CalendarDate.dayNumber(end) + 15
    let date = Date(timeIntervalSince1970: TimeInterval(day) * 86_400)
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 0)!
    let c = calendar.dateComponents([.year, .month, .day], from: date)
    return CalendarDate.make(c.year!, c.month!, c.day!)
  }

  public mutating func addUnit(id: [UInt8], unit: Orgsync_V1_OrgUnit) {
    units[id] = UnitInfo(parent: Array(unit.parentID), name: unit.name, code: unit.code, level: unit.level)
  }

  /// Call once all units are in: works out which child of the root each unit falls under.
  mutating func index() {
    guard branchOf.isEmpty else { return }
    for (id, info) in units where info.parent == root || id == root {
      var acc = Accumulator()
      acc.row.unitID = Data(id)
      acc.row.name = info.name
      acc.row.code = info.code
      rows[id] = acc
    }
    for id in units.keys {
      var current = id
      var child: [UInt8]? = nil
      var hops = 0
      while current != root, let info = units[current], hops < 64 {
        child = current
        current = info.parent
        hops += 1
      }
      guard current == root else { continue }  // not in this subtree
      let row = child ?? root
      branchOf[id] = row
      if let info = units[id], info.level == .grassroots {
        rows[row]?.row.units += 1
        rows[row]?.row.reportsDue += 1
      }
    }
  }

  func within(_ d: Orgsync_V1_Date) -> Bool {
    d.year != 0 && CalendarDate.compare(d, start) >= 0 && CalendarDate.compare(d, end) <= 0
  }

  func set(_ d: Orgsync_V1_Date) -> Bool { d.year != 0 }

  /// Adds one live record owned by `unitID`.
  public mutating func add(type: Orgsync_V1_RecordType, id: [UInt8], unitID: [UInt8], body: Orgsync_V1_RecordBody) {
    index()
    guard let row = branchOf[unitID] else { return }
    switch body.kind {
    case .member(let m):
      rows[row]?.row.members += 1
      rows[row]?.byStatus[m.status, default: 0] += 1
      if m.leadingCadre {
        rows[row]?.row.leadingCadres += 1
        cadres[id] = row
      }
    case .report(let r):
      guard r.year == year, r.period == period else { return }
      let rank: (Orgsync_V1_ReportStatus) -> Int = {
        [.draft: 0, .returned: 1, .submitted: 2, .acknowledged: 3][$0] ?? 0
      }
      if rank(r.status) >= rank(reported[unitID] ?? .draft) { reported[unitID] = r.status }
    case .lecture(let l):
      if l.date.year == year, !l.speakerID.isEmpty { lectured.insert(Array(l.speakerID)) }
    case .liaisonPoint(let l):
      if !set(l.until) || CalendarDate.compare(l.until, today) >= 0 { liaison[Array(l.cadreID), default: 0] += 1 }
    case .opinion(let o):
      if within(o.date) { rows[row]?.row.opinions += 1 }
    case .problem(let p):
      if p.status == .resolved, within(p.resolvedOn) {
        rows[row]?.row.problemsResolved += 1
        rows[row]?.resolveDays.append(CalendarDate.dayNumber(p.resolvedOn) - CalendarDate.dayNumber(p.identifiedOn))
      } else if set(p.identifiedOn), CalendarDate.compare(p.identifiedOn, end) <= 0,
        p.status != .resolved || CalendarDate.compare(p.resolvedOn, end) > 0
      {
        rows[row]?.row.problemsOpen += 1
      }
    case .commitment(let c):
      guard within(c.due), c.status != .cancelled else { return }
      rows[row]?.row.commitmentsDue += 1
      if c.status == .fulfilled, set(c.fulfilledOn), CalendarDate.compare(c.fulfilledOn, c.due) <= 0 {
        rows[row]?.row.commitmentsFulfilledOnTime += 1
      } else if c.status != .fulfilled, CalendarDate.compare(c.due, today) < 0 {
        rows[row]?.row.commitmentsOverdue += 1
      }
    case .meeting(let m):
      if within(m.date) { rows[row]?.row.meetings += 1 }
    case .serviceCase(let s):
      if within(s.date) { rows[row]?.row.serviceCases += 1 }
    default:
      break
    }
  }

  public mutating func build() -> Orgsync_V1_RollUp {
    index()
    let pastDeadline = CalendarDate.compare(today, deadline) > 0
    for (unit, info) in units where info.level == .grassroots {
      guard let row = branchOf[unit] else { continue }
      let status = reported[unit] ?? .unspecified
      if status == .submitted || status == .acknowledged { rows[row]?.row.reportsSubmitted += 1 }
      if status == .acknowledged { rows[row]?.row.reportsAcknowledged += 1 }
      if status != .submitted, status != .acknowledged, pastDeadline {
        rows[row]?.row.reportsLate += 1
        rows[row]?.row.lateUnitIds.append(Data(unit))
      }
    }
    for (cadre, row) in cadres {
      if !lectured.contains(cadre) { rows[row]?.row.cadresWithoutLecture += 1 }
      let points = liaison[cadre] ?? 0
      if points == 0 || points > 2 { rows[row]?.row.cadresLiaisonOff += 1 }
    }
    var total = Accumulator()
    total.row.unitID = Data(root)
    total.row.name = units[root]?.name ?? ""
    total.row.code = units[root]?.code ?? ""
    var rollUp = Orgsync_V1_RollUp()
    rollUp.year = year
    rollUp.period = period
    rollUp.asOf = String(format: "%04d-%02d-%02d", today.year, today.month, today.day)
    for (id, var acc) in rows.sorted(by: { $0.value.row.code < $1.value.row.code }) {
      acc.row.membersByStatus = Self.statusCounts(acc.byStatus)
      acc.row.lateUnitIds.sort { $0.lexicographicallyPrecedes($1) }
      acc.row.medianDaysToResolve = Self.median(acc.resolveDays)
      total.row.merge(acc.row)
      for (status, count) in acc.byStatus { total.byStatus[status, default: 0] += count }
      total.resolveDays += acc.resolveDays
      if id != root || acc.row.members + acc.row.meetings + acc.row.opinions > 0 { rollUp.rows.append(acc.row) }
    }
    total.row.membersByStatus = Self.statusCounts(total.byStatus)
    total.row.medianDaysToResolve = Self.median(total.resolveDays)
    rollUp.total = total.row
    return rollUp
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

extension Orgsync_V1_UnitRollUp {
  /// Adds another row's counts (medians and status lists are set by the caller).
  mutating func merge(_ other: Orgsync_V1_UnitRollUp) {
    units += other.units
    members += other.members
    leadingCadres += other.leadingCadres
    reportsDue += other.reportsDue
    reportsSubmitted += other.reportsSubmitted
    reportsAcknowledged += other.reportsAcknowledged
    reportsLate += other.reportsLate
    cadresWithoutLecture += other.cadresWithoutLecture
    cadresLiaisonOff += other.cadresLiaisonOff
    opinions += other.opinions
    problemsOpen += other.problemsOpen
    problemsResolved += other.problemsResolved
    commitmentsDue += other.commitmentsDue
    commitmentsFulfilledOnTime += other.commitmentsFulfilledOnTime
    commitmentsOverdue += other.commitmentsOverdue
    meetings += other.meetings
    serviceCases += other.serviceCases
    lateUnitIds += other.lateUnitIds
  }
}

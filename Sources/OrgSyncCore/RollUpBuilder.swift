import Foundation
import OrgSyncProto

/// Computes a roll-up of a subtree for a period, from records fed one at a time. The server
/// feeds it from its database and a client from its replica: one implementation, so the county
/// office sees the same numbers online and offline.
///
/// Feed all units first (`addUnit`), then any records in any order (`add`); `build()` answers.
public struct RollUpBuilder: Sendable {
  public let root: [UInt8]
  public let year: Int32
  public let period: Orgsync_V1_ReportPeriod
  public let today: Orgsync_V1_Date
  let start: Orgsync_V1_Date
  let end: Orgsync_V1_Date

  struct UnitInfo: Sendable {
    var id: [UInt8]
    var parent: Key16
    var name: String
    var code: String
    var level: Orgsync_V1_UnitLevel
    var kind: Orgsync_V1_UnitKind = .branch
    var founded: Orgsync_V1_Date
    var dissolved: Orgsync_V1_Date
  }

  var units: [Key16: UnitInfo] = [:]
  var branchOf: [Key16: Int] = [:]  // unit → slot of the root's child above it (or of the root)
  var slotKeys: [Key16] = []  // slot → that child (or the root), by code
  var counts: [Counts] = []  // slot → what the records added (plain counters: the hot path)
  var rows: [Accumulator] = []  // by slot, in `slotKeys` order (filled by `index()`)
  var cadres: [Key16: Int] = [:]  // cadre member id → slot
  var lectured: Set<Key16> = []
  var liaison: [Key16: Int] = [:]
  var reported: [Key16: Orgsync_V1_ReportStatus] = [:]  // grassroots unit → best status for the period
  var submittedOn: [Key16: Int] = [:]  // grassroots unit → day number of its first submission for the period
  var openProblems: [Key16] = []  // the problems counted open
  var overdueCommitments: [Key16] = []  // the promises counted overdue
  var organisationalLife: [Key16: [Int]] = [:]  // grassroots unit → meetings by kind (index 0: lectures)
  var overdueInspections: [Key16] = []  // follow-up past its date and not done
  var keptLate: [Key16] = []  // promises due in the period, fulfilled after their date
  var conversionsDue: [(Key16, Orgsync_V1_Date)] = []  // probationary a year or more, with their start
  var activistsReady: [(Key16, Orgsync_V1_Date)] = []  // activists a year or more, with their date
  /// What the records say that turns into a figure only against today: kept as dated items
  /// while records are added and judged in `build()`, so what a unit's records add does not
  /// depend on the day (a unit's share can be kept and reused: RollUpPartial.swift).
  var dated = Dated()
  var datedResolved = false
  var tally = LifecycleTally()  // transfers, dues, assessments, follow-ups (RollUpLifecycle.swift)
  /// The unit's own members, when this builder computes a unit's share (`init(partialOf:)`).
  var localMembers: Set<Key16>?
  /// The 三会一课 frequencies the "behind schedule" list holds units to.
  public var lifeStandard = LifeStandard.standard
  let rootKey: Key16

  /// Per-row counters the records add to; folded into the rows by `build()`.
  struct Counts: Sendable {
    var members: UInt32 = 0
    var leadingCadres: UInt32 = 0
    var byStatus = [UInt32](repeating: 0, count: 16)
    var opinions: UInt32 = 0
    var problemsOpen: UInt32 = 0
    var problemsResolved: UInt32 = 0
    var resolveDays: [Int] = []
    var commitmentsDue: UInt32 = 0
    var commitmentsFulfilledOnTime: UInt32 = 0
    var commitmentsOverdue: UInt32 = 0
    var meetings: UInt32 = 0
    var serviceCases: UInt32 = 0

    mutating func absorb(_ o: Counts) {
      members += o.members
      leadingCadres += o.leadingCadres
      for i in byStatus.indices { byStatus[i] += o.byStatus[i] }
      opinions += o.opinions
      problemsOpen += o.problemsOpen
      problemsResolved += o.problemsResolved
      resolveDays += o.resolveDays
      commitmentsDue += o.commitmentsDue
      commitmentsFulfilledOnTime += o.commitmentsFulfilledOnTime
      commitmentsOverdue += o.commitmentsOverdue
      meetings += o.meetings
      serviceCases += o.serviceCases
    }
  }

  /// The dated items (see `dated`), each with the slot it counts in.
  struct Dated: Sendable {
    var members: [(id: Key16, since: Orgsync_V1_Date, probationary: Bool, slot: Int)] = []
    var lectures: [(speaker: Key16, held: Orgsync_V1_Date, unit: Key16)] = []  // held in the year
    var liaison: [(cadre: Key16, until: Orgsync_V1_Date)] = []
    var commitments: [(id: Key16, due: Orgsync_V1_Date, slot: Int)] = []  // due in the period, not kept
    var inspections: [(id: Key16, due: Orgsync_V1_Date, slot: Int)] = []  // follow-up not done

    mutating func append(_ o: Dated, slotMap: (Int) -> Int) {
      members += o.members.map { ($0.id, $0.since, $0.probationary, slotMap($0.slot)) }
      lectures += o.lectures
      liaison += o.liaison
      commitments += o.commitments.map { ($0.id, $0.due, slotMap($0.slot)) }
      inspections += o.inspections.map { ($0.id, $0.due, slotMap($0.slot)) }
    }
  }

  struct Accumulator: Sendable {
    var row = Orgsync_V1_UnitRollUp()
    var byStatus: [Orgsync_V1_MemberStatus: UInt32] = [:]
    var resolveDays: [Int] = []
  }

  public init(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date) {
    self.root = root
    self.year = year
    self.period = period
    self.today = today
    self.rootKey = Key16(root)
    (start, end) = Self.range(year: year, period: period)
  }

  /// Reports are due 15 days after the period ends.
  /// A unit owes the period's report if it existed by the period's end and was not dissolved
  /// before the period began (units without these dates always owe it).
  func owesReport(_ info: UnitInfo) -> Bool {
    if set(info.founded), CalendarDate.compare(info.founded, end) > 0 { return false }
    if set(info.dissolved), CalendarDate.compare(info.dissolved, start) < 0 { return false }
    return true
  }

  /// Whole months of the period that have passed by today (all of them once it has ended).
  var monthsElapsed: Int {
    if CalendarDate.compare(today, end) > 0 {
      return Int(end.month - start.month) + 1 + 12 * Int(end.year - start.year)
    }
    guard CalendarDate.compare(today, start) >= 0 else { return 0 }
    // Months fully past: a month counts once its last day is behind today.
    let months = Int(today.month - start.month) + 12 * Int(today.year - start.year)
    return max(0, months)
  }

  public var deadline: Orgsync_V1_Date {
    let day = CalendarDate.dayNumber(end) + 15
    let date = Date(timeIntervalSince1970: TimeInterval(day) * 86_400)
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 0)!
    let c = calendar.dateComponents([.year, .month, .day], from: date)
    return CalendarDate.make(c.year!, c.month!, c.day!)
  }

  public mutating func addUnit(id: [UInt8], unit: Orgsync_V1_OrgUnit) {
    units[Key16(id)] = UnitInfo(
      id: id, parent: Key16(unit.parentID), name: unit.name, code: unit.code, level: unit.level, kind: unit.kind,
      founded: unit.foundedOn, dissolved: unit.dissolvedOn)
  }

  /// Call once all units are in: works out which child of the root each unit falls under.
  mutating func index() {
    guard branchOf.isEmpty, !units.isEmpty else { return }
    var byKey: [Key16: Accumulator] = [:]
    for (key, info) in units where info.parent == rootKey || key == rootKey {
      var acc = Accumulator()
      acc.row.unitID = Data(info.id)
      acc.row.name = info.name
      acc.row.code = info.code
      byKey[key] = acc
    }
    slotKeys = byKey.keys.sorted { byKey[$0]!.row.code < byKey[$1]!.row.code }
    rows = slotKeys.map { byKey[$0]! }
    counts = Array(repeating: Counts(), count: slotKeys.count)
    tally.counts = Array(repeating: .init(), count: slotKeys.count)
    let slotOf = Dictionary(uniqueKeysWithValues: slotKeys.enumerated().map { ($1, $0) })
    for key in units.keys {
      var current = key
      var child: Key16? = nil
      var hops = 0
      while current != rootKey, let info = units[current], hops < 64 {
        child = current
        current = info.parent
        hops += 1
      }
      guard current == rootKey else { continue }  // not in this subtree
      let row = child ?? rootKey
      guard let slot = slotOf[row] else { continue }
      branchOf[key] = slot
      if let info = units[key], info.level == .grassroots, owesReport(info) { rows[slot].row.units += 1 }
      if let info = units[key], reports(key, info) { rows[slot].row.reportsDue += 1 }
    }
  }

  /// Whether a unit owes the period's report to the unit above it: grassroots units and
  /// township committees (the root's own report goes outside this subtree), if they existed.
  func reports(_ key: Key16, _ info: UnitInfo) -> Bool {
    (info.level == .grassroots || info.level == .township) && key != rootKey && owesReport(info)
  }

  /// A member's status on the period's last day: a stage reached after it does not count yet,
  /// and a membership that ended after it still does (as a full member). 0 when the person had
  /// not yet even applied.
  func statusAtEnd(_ f: RollUpFields) -> Int {
    typealias S = Orgsync_V1_MemberStatus
    var status = f.int(N.memberStatus)
    func after(_ field: Int) -> Bool {
      let d = f.date(field)
      return set(d) && CalendarDate.compare(d, end) > 0
    }
    if [S.deceased.rawValue, S.left.rawValue, S.transferredOut.rawValue].contains(status), after(N.memberEndedOn) {
      status = S.full.rawValue
    }
    if status == S.full.rawValue, after(N.memberFullOn) { status = S.probationary.rawValue }
    if status == S.probationary.rawValue, after(N.memberProbationStart) { status = S.developmentTarget.rawValue }
    if status == S.developmentTarget.rawValue, after(N.memberTargetOn) { status = S.activist.rawValue }
    if status == S.activist.rawValue, after(N.memberActivistOn) { status = S.applicant.rawValue }
    if status == S.applicant.rawValue, after(N.memberAppliedOn) { status = 0 }
    return status
  }

  func within(_ d: Orgsync_V1_Date) -> Bool {
    d.year != 0 && CalendarDate.compare(d, start) >= 0 && CalendarDate.compare(d, end) <= 0
  }

  func set(_ d: Orgsync_V1_Date) -> Bool { d.year != 0 }

  /// Adds one live record owned by `unitID`, from its body's protobuf encoding. Only the few
  /// fields a roll-up needs are read, straight from the encoding (`RollUpFields`): a county's
  /// 70,000 records are read several times faster than by decoding every message.
  public mutating func add(type: Orgsync_V1_RecordType, id: [UInt8], unitID: [UInt8], bytes: [UInt8]) {
    id.withUnsafeBytes { id in
      unitID.withUnsafeBytes { unitID in
        bytes.withUnsafeBytes { bytes in add(type: type, id: id, unitID: unitID, bytes: bytes) }
      }
    }
  }

  /// The same, reading straight from buffers (the server passes SQLite's column memory).
  public mutating func add(
    type: Orgsync_V1_RecordType, id: UnsafeRawBufferPointer, unitID: UnsafeRawBufferPointer,
    bytes: UnsafeRawBufferPointer
  ) {
    index()
    let unit = Key16(unitID)
    let f = RollUpFields(bytes: bytes)
    if type == .notice, within(f.date(N.noticeIssued)) {  // its audience may be here though its issuer is above
      tally.notices.append((Key16(id), Key16(f.bytes(N.noticeAudience))))
    }
    if type == .transfer {  // either end may be the one in this subtree
      tally.transfers.append(
        .init(
          id: Key16(id), issuer: unit, code: f.string(N.transferCode), status: f.int(N.transferStatus),
          answered: f.date(N.transferAnswered)))
      return
    }
    guard let slot = branchOf[unit] else { return }
    switch type {
    case .member:
      localMembers?.insert(Key16(id))
      addDues(member: Key16(id), unit: unit, slot: slot, f: f)
      let atEnd = statusAtEnd(f)
      if atEnd != 0 {  // a record of someone who had not yet applied is not counted for the period
        counts[slot].members += 1
        counts[slot].byStatus[min(15, max(0, atEnd))] += 1
      }
      if f.int(N.memberCadre) != 0 {
        counts[slot].leadingCadres += 1
        cadres[Key16(id)] = slot
      }
      // Due lists (judged against today in `build`): a year since probation began, or since
      // becoming an activist.
      let status = f.int(N.memberStatus)
      if status == Orgsync_V1_MemberStatus.probationary.rawValue || status == Orgsync_V1_MemberStatus.activist.rawValue
      {
        let probationary = status == Orgsync_V1_MemberStatus.probationary.rawValue
        let since = f.date(probationary ? N.memberProbationStart : N.memberActivistOn)
        if set(since) { dated.members.append((Key16(id), since, probationary, slot)) }
      }
    case .report:
      guard f.int(N.reportYear) == Int(year), f.int(N.reportPeriod) == period.rawValue else { return }
      let status = Orgsync_V1_ReportStatus(rawValue: f.int(N.reportStatus)) ?? .unspecified
      if Self.rank(status) >= Self.rank(reported[unit] ?? .draft) { reported[unit] = status }
      if status == .submitted || status == .acknowledged {
        let on = f.date(N.reportSubmitted)
        if set(on) { submittedOn[unit] = min(submittedOn[unit] ?? .max, CalendarDate.dayNumber(on)) }
      }
    case .lecture:
      if within(f.date(N.lectureDate)) {
        organisationalLife[unit, default: [Int](repeating: 0, count: 16)][0] += 1
      }
      // A cadre's lecture counts when given at the grass roots (到基层讲党课) and already held.
      // (Judged in `build`: by then held, and at a grassroots unit.)
      let speaker = f.bytes(N.lectureSpeaker)
      let held = f.date(N.lectureDate)
      if held.year == year, !speaker.isEmpty { dated.lectures.append((Key16(speaker), held, unit)) }
    case .liaisonPoint:
      dated.liaison.append((Key16(f.bytes(N.liaisonCadre)), f.date(N.liaisonUntil)))  // kept till `until`
    case .opinion:
      if within(f.date(N.opinionDate)) { counts[slot].opinions += 1 }
    case .problem:
      let status = f.int(N.problemStatus)
      let identified = f.date(N.problemIdentified)
      let resolved = f.date(N.problemResolved)
      if status == Orgsync_V1_ProblemStatus.resolved.rawValue, within(resolved) {
        counts[slot].problemsResolved += 1
        counts[slot].resolveDays.append(CalendarDate.dayNumber(resolved) - CalendarDate.dayNumber(identified))
      } else if set(identified), CalendarDate.compare(identified, end) <= 0,
        status != Orgsync_V1_ProblemStatus.resolved.rawValue || CalendarDate.compare(resolved, end) > 0
      {
        counts[slot].problemsOpen += 1
        openProblems.append(Key16(id))
      }
    case .commitment:
      let status = Orgsync_V1_CommitmentStatus(rawValue: f.int(N.commitmentStatus)) ?? .unspecified
      let due = f.date(N.commitmentDue)
      let fulfilled = f.date(N.commitmentFulfilled)
      guard within(due), status != .cancelled else { return }
      counts[slot].commitmentsDue += 1
      if status == .fulfilled, set(fulfilled), CalendarDate.compare(fulfilled, due) > 0 {
        keptLate.append(Key16(id))
        tally.counts[slot].keptLate += 1
      }
      if status == .fulfilled, set(fulfilled), CalendarDate.compare(fulfilled, due) <= 0 {
        counts[slot].commitmentsFulfilledOnTime += 1
      } else if status != .fulfilled {
        dated.commitments.append((Key16(id), due, slot))  // overdue once its date is behind today
      }
    case .inspection:
      let due = f.date(N.inspectionDue)
      if set(due), !set(f.date(N.inspectionDone)) { dated.inspections.append((Key16(id), due, slot)) }
    case .meeting:
      if within(f.date(N.meetingDate)) {
        counts[slot].meetings += 1
        let kind = min(15, max(0, f.int(N.meetingKind)))
        organisationalLife[unit, default: [Int](repeating: 0, count: 16)][kind] += 1
      }
    case .serviceCase:
      if within(f.date(N.serviceDate)) { counts[slot].serviceCases += 1 }
    default:
      addLifecycle(type: type, id: Key16(id), unit: unit, slot: slot, f: f)
    }
  }

  /// Takes in what another builder (same root, period and units) read from other records, so
  /// a large subtree can be read in parallel parts.
  public mutating func merge(_ other: RollUpBuilder) {
    index()
    var other = other
    other.index()
    var slotMap: [Int: Int] = [:]
    for (otherSlot, key) in other.slotKeys.enumerated() {
      guard let slot = slotKeys.firstIndex(of: key) else { continue }
      slotMap[otherSlot] = slot
    }
    merge(other, slotMap: slotMap)
  }

  /// Takes in another builder's records, its slots mapped onto this one's (an unmapped slot's
  /// counters are dropped, as its records lie outside this subtree).
  mutating func merge(_ other: RollUpBuilder, slotMap: [Int: Int]) {
    for (otherSlot, slot) in slotMap { counts[slot].absorb(other.counts[otherSlot]) }
    tally.merge(other.tally, slotMap: slotMap)
    for (cadre, otherSlot) in other.cadres {
      if let slot = slotMap[otherSlot] { cadres[cadre] = slot }
    }
    dated.append(other.dated) { slotMap[$0] ?? $0 }
    lectured.formUnion(other.lectured)
    liaison.merge(other.liaison, uniquingKeysWith: +)
    reported.merge(other.reported) { Self.rank($0) >= Self.rank($1) ? $0 : $1 }
    submittedOn.merge(other.submittedOn) { min($0, $1) }
    openProblems += other.openProblems
    overdueCommitments += other.overdueCommitments
    organisationalLife.merge(other.organisationalLife) { a, b in zip(a, b).map(+) }
    conversionsDue += other.conversionsDue
    overdueInspections += other.overdueInspections
    keptLate += other.keptLate
    activistsReady += other.activistsReady
  }

  /// Judges the dated items against today (once): the lists and counts that depend on the day.
  mutating func resolveDated() {
    guard !datedResolved else { return }
    datedResolved = true
    for m in dated.members {
      var yearOn = m.since
      yearOn.year += 1
      guard CalendarDate.compare(yearOn, today) <= 0 else { continue }
      if m.probationary {
        conversionsDue.append((m.id, m.since))
        tally.counts[m.slot].conversionsDue += 1
      } else {
        activistsReady.append((m.id, m.since))
        tally.counts[m.slot].activistsReady += 1
      }
    }
    // A cadre's lecture counts when given at the grass roots (到基层讲党课) and already held.
    for l in dated.lectures where CalendarDate.compare(l.held, today) <= 0 && units[l.unit]?.level == .grassroots {
      lectured.insert(l.speaker)
    }
    for point in dated.liaison where !set(point.until) || CalendarDate.compare(point.until, today) >= 0 {
      liaison[point.cadre, default: 0] += 1
    }
    for c in dated.commitments where CalendarDate.compare(c.due, today) < 0 {
      counts[c.slot].commitmentsOverdue += 1
      overdueCommitments.append(c.id)
    }
    for i in dated.inspections where CalendarDate.compare(i.due, today) < 0 {
      overdueInspections.append(i.id)
      tally.counts[i.slot].inspectionsOverdue += 1
    }
  }

  public mutating func build() -> Orgsync_V1_RollUp {
    index()
    resolveDated()
    for slot in slotKeys.indices {
      let c = counts[slot]
      rows[slot].row.members = c.members
      rows[slot].row.leadingCadres = c.leadingCadres
      rows[slot].row.opinions = c.opinions
      rows[slot].row.problemsOpen = c.problemsOpen
      rows[slot].row.problemsResolved = c.problemsResolved
      rows[slot].row.commitmentsDue = c.commitmentsDue
      rows[slot].row.commitmentsFulfilledOnTime = c.commitmentsFulfilledOnTime
      rows[slot].row.commitmentsOverdue = c.commitmentsOverdue
      rows[slot].row.meetings = c.meetings
      rows[slot].row.serviceCases = c.serviceCases
      rows[slot].resolveDays = c.resolveDays
      for (status, count) in c.byStatus.enumerated() where count > 0 {
        rows[slot].byStatus[Orgsync_V1_MemberStatus(rawValue: status) ?? .unspecified] = count
      }
    }
    buildLifecycle()
    for (unit, held) in organisationalLife {
      guard let slot = branchOf[unit] else { continue }
      rows[slot].row.generalMeetings += UInt32(held[Orgsync_V1_MeetingKind.branchGeneral.rawValue])
      rows[slot].row.committeeMeetings += UInt32(held[Orgsync_V1_MeetingKind.branchCommittee.rawValue])
      rows[slot].row.partyGroupMeetings += UInt32(held[Orgsync_V1_MeetingKind.partyGroup.rawValue])
      rows[slot].row.lectures += UInt32(held[0])
    }
    let pastDeadline = CalendarDate.compare(today, deadline) > 0
    for (unit, info) in units where reports(unit, info) {
      guard let slot = branchOf[unit] else { continue }
      let status = reported[unit] ?? .unspecified
      if status == .submitted || status == .acknowledged {
        rows[slot].row.reportsSubmitted += 1
        // Lateness is not forgiven by arriving: a report in after the deadline stays late.
        if let day = submittedOn[unit], day > CalendarDate.dayNumber(deadline) {
          rows[slot].row.reportsSubmittedLate += 1
          let daysLate = UInt32(day - CalendarDate.dayNumber(deadline))
          let before = rows[slot].row.maxDaysLate
          rows[slot].row.maxDaysLate = max(before, daysLate)
        }
      }
      if status == .acknowledged { rows[slot].row.reportsAcknowledged += 1 }
      if status != .submitted, status != .acknowledged, pastDeadline {
        rows[slot].row.reportsLate += 1
        rows[slot].row.lateUnitIds.append(Data(info.id))
      }
    }
    for (cadre, slot) in cadres {
      if !lectured.contains(cadre) { rows[slot].row.cadresWithoutLecture += 1 }
      let points = liaison[cadre] ?? 0
      if points == 0 || points > 2 { rows[slot].row.cadresLiaisonOff += 1 }
    }
    var total = Accumulator()
    total.row.unitID = Data(root)
    total.row.name = units[rootKey]?.name ?? ""
    total.row.code = units[rootKey]?.code ?? ""
    var rollUp = Orgsync_V1_RollUp()
    rollUp.year = year
    rollUp.period = period
    rollUp.asOf = String(format: "%04d-%02d-%02d", today.year, today.month, today.day)
    for (slot, var acc) in rows.enumerated() {  // slots are in code order
      let id = slotKeys[slot]
      acc.row.membersByStatus = Self.statusCounts(acc.byStatus)
      Self.setHeadcounts(&acc.row, acc.byStatus)
      acc.row.lateUnitIds.sort { $0.lexicographicallyPrecedes($1) }
      acc.row.medianDaysToResolve = Self.median(acc.resolveDays)
      total.row.merge(acc.row)
      for (status, count) in acc.byStatus { total.byStatus[status, default: 0] += count }
      total.resolveDays += acc.resolveDays
      if id != rootKey || acc.row.members + acc.row.meetings + acc.row.opinions > 0 { rollUp.rows.append(acc.row) }
    }
    total.row.membersByStatus = Self.statusCounts(total.byStatus)
    Self.setHeadcounts(&total.row, total.byStatus)
    total.row.medianDaysToResolve = Self.median(total.resolveDays)
    rollUp.total = total.row
    return rollUp
  }
}

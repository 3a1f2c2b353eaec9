import OrgSyncProto

/// The member lifecycle's part of a roll-up (transfers, party dues, the assessment loop) and the
/// follow-up counts (inspections, notices, support). Kept beside `RollUpBuilder`, fed by it.
struct LifecycleTally: Sendable {
  /// Per-row counters, indexed like `RollUpBuilder.counts`.
  struct Counts: Sendable {
    var inspectionsOverdue: UInt32 = 0
    var notices: UInt32 = 0
    var supportItems: UInt32 = 0
    var supportFen: Int64 = 0
    var keptLate: UInt32 = 0
    var conversionsDue: UInt32 = 0
    var activistsReady: UInt32 = 0
    var pledges: UInt32 = 0
    var leaderReviews: UInt32 = 0
    var pairings: UInt32 = 0
    var targetsSet: UInt32 = 0
    var targetsMet: UInt32 = 0

    mutating func absorb(_ o: Counts) {
      inspectionsOverdue += o.inspectionsOverdue
      notices += o.notices
      supportItems += o.supportItems
      supportFen += o.supportFen
      keptLate += o.keptLate
      conversionsDue += o.conversionsDue
      activistsReady += o.activistsReady
      pledges += o.pledges
      leaderReviews += o.leaderReviews
      pairings += o.pairings
      targetsSet += o.targetsSet
      targetsMet += o.targetsMet
    }
  }

  struct TransferSeen: Sendable {
    var id: Key16
    var issuer: Key16
    var code: String
    var status: Int
    var answered: Orgsync_V1_Date
  }

  struct DuesMember: Sendable {
    var slot: Int
    var unit: Key16
    var monthly: Int64
    var since: Int32  // first month owed (probation's), 0 when unknown
  }

  /// A party member's dues as a kept share gives them (`RollUpBuilder.absorb(partial:)`): the
  /// first month the member is behind from, as far as the own unit's payments go.
  struct SharedDues: Sendable {
    var member: Key16
    var slot: Int
    var monthly: Int64
    var since: Int32
    var from: Int32
  }

  /// What kept shares add, in flat lists, so that a roll-up of two million members hashes none
  /// of them: each unit's own members' dues with the payments its records hold for them, and
  /// its own members' latest 民主评议. Payments and reviews a unit's records hold for members
  /// elsewhere go into `payments` and `reviews`, as records read one by one do.
  struct Shared: Sendable {
    var dues: [SharedDues] = []
    var payments: [(slot: Int, from: Int32, to: Int32, fen: Int64)] = []
    var reviews: [(member: Key16, slot: Int, grade: Int, day: Int)] = []
  }

  var shared = Shared()
  var counts: [Counts] = []
  var transfers: [TransferSeen] = []
  /// Notices issued in the period, wherever their issuer sits (a county's notice reaches a
  /// township's roll-up), with their audience's root.
  var notices: [(id: Key16, audience: Key16)] = []
  /// A notice a unit signed for.
  struct Receipt: Hashable, Sendable {
    var notice: Key16
    var unit: Key16
  }
  var receipts: Set<Receipt> = []
  var duesMembers: [Key16: DuesMember] = [:]
  var payments: [Key16: [(from: Int32, to: Int32, fen: Int64)]] = [:]  // by member
  var firstPaid: [Key16: Int32] = [:]  // unit → first month it recorded a payment for
  var reviews: [Key16: (slot: Int, grade: Int, day: Int)] = [:]  // member → the year's latest 民主评议
  var stars: [Key16: (slot: Int, stars: Int, day: Int)] = [:]  // unit → the year's latest rating

  /// Whether an assessment (day, value) replaces the one kept: the later day, and on the same
  /// day the higher value, so the result does not depend on the order records are read in.
  static func supersedes(_ new: (Int, Int), _ kept: (Int, Int)?) -> Bool {
    guard let kept else { return true }
    return new.0 > kept.0 || (new.0 == kept.0 && new.1 >= kept.1)
  }

  mutating func merge(_ o: LifecycleTally, slotMap: [Int: Int]) {
    for (otherSlot, c) in o.counts.enumerated() {
      if let slot = slotMap[otherSlot] { counts[slot].absorb(c) }
    }
    transfers += o.transfers
    notices += o.notices
    receipts.formUnion(o.receipts)
    for (k, v) in o.duesMembers {
      var v = v
      v.slot = slotMap[v.slot] ?? v.slot
      duesMembers[k] = v
    }
    payments.merge(o.payments, uniquingKeysWith: +)
    firstPaid.merge(o.firstPaid) { min($0, $1) }
    for (k, v) in o.reviews where Self.supersedes((v.day, v.grade), reviews[k].map { ($0.day, $0.grade) }) {
      reviews[k] = (slotMap[v.slot] ?? v.slot, v.grade, v.day)
    }
    for (k, v) in o.stars where Self.supersedes((v.day, v.stars), stars[k].map { ($0.day, $0.stars) }) {
      stars[k] = (slotMap[v.slot] ?? v.slot, v.stars, v.day)
    }
    shared.dues += o.shared.dues.map { d in
      var d = d
      d.slot = slotMap[d.slot] ?? d.slot
      return d
    }
    shared.payments += o.shared.payments.map { (slotMap[$0.slot] ?? $0.slot, $0.from, $0.to, $0.fen) }
    shared.reviews += o.shared.reviews.map { ($0.member, slotMap[$0.slot] ?? $0.slot, $0.grade, $0.day) }
  }
}

extension RollUpBuilder {
  /// The record types a roll-up reads besides units (`type IN (…)` for SQL), from the list of
  /// every type, so a new type is read by server and replica alike.
  public static let recordTypesSQL = RecordKinds.all.filter { $0 != .orgUnit }.map { String($0.rawValue) }
    .joined(separator: ", ")

  /// Records of the lifecycle types, and the follow-up counts of the older ones.
  mutating func addLifecycle(
    type: Orgsync_V1_RecordType, id: Key16, unit: Key16, slot: Int, f: RollUpFields
  ) {
    switch type {
    case .duesPayment:
      let from = Int32(f.int(N.duesFrom))
      let to = Int32(f.int(N.duesTo))
      guard from > 0, to >= from else { return }
      tally.payments[Key16(f.bytes(N.duesMember)), default: []].append((from, to, f.int64(N.duesAmount)))
      tally.firstPaid[unit] = min(tally.firstPaid[unit] ?? .max, from)
    case .assessment:
      guard f.int(N.assessmentYear) == Int(year) else { return }
      let date = f.date(N.assessmentDate)
      let day = set(date) ? CalendarDate.dayNumber(date) : 0
      switch Orgsync_V1_AssessmentKind(rawValue: f.int(N.assessmentKind)) ?? .unspecified {
      case .publicPledge: tally.counts[slot].pledges += 1
      case .leaderReview: tally.counts[slot].leaderReviews += 1
      case .democraticReview:
        let member = Key16(f.bytes(N.assessmentMember))
        let grade = f.int(N.assessmentGrade)
        if LifecycleTally.supersedes((day, grade), tally.reviews[member].map { ($0.day, $0.grade) }) {
          tally.reviews[member] = (slot, grade, day)
        }
      case .starRating:
        let stars = f.int(N.assessmentStars)
        if LifecycleTally.supersedes((day, stars), tally.stars[unit].map { ($0.day, $0.stars) }) {
          tally.stars[unit] = (slot, stars, day)
        }
      case .pairing:
        let done = f.date(N.assessmentCompleted)
        if set(date), CalendarDate.compare(date, end) <= 0, !set(done) || CalendarDate.compare(done, end) > 0 {
          tally.counts[slot].pairings += 1
        }
      case .yearTarget:
        tally.counts[slot].targetsSet += 1
        if set(f.date(N.assessmentCompleted)) { tally.counts[slot].targetsMet += 1 }
      default: break
      }
    case .notice:
      if within(f.date(N.noticeIssued)) { tally.counts[slot].notices += 1 }
    case .noticeReceipt:
      tally.receipts.insert(.init(notice: Key16(f.bytes(N.receiptNotice)), unit: unit))
    case .supportItem:
      if within(f.date(N.supportDate)) {
        tally.counts[slot].supportItems += 1
        tally.counts[slot].supportFen += f.int64(N.supportAmount)
      }
    default:
      break
    }
  }

  /// A member's dues, for party members with a dues category.
  mutating func addDues(member: Key16, unit: Key16, slot: Int, f: RollUpFields) {
    let status = f.int(N.memberStatus)
    guard status == Orgsync_V1_MemberStatus.full.rawValue || status == Orgsync_V1_MemberStatus.probationary.rawValue
    else { return }
    let monthly = Dues.monthlyFen(
      category: Orgsync_V1_DuesCategory(rawValue: f.int(N.memberDuesCategory)) ?? .unspecified,
      base: f.int64(N.memberDuesBase))
    guard monthly > 0 else { return }
    let start = f.date(N.memberProbationStart)
    tally.duesMembers[member] = .init(
      slot: slot, unit: unit, monthly: monthly, since: set(start) ? Dues.month(start) : 0)
  }

  /// The last month whose dues are owed by today (the month before the current one).
  var lastOwedMonth: Int32 { Dues.adding(-1, to: Dues.month(today)) }

  /// Months a member is behind: unpaid months in a row up to the last owed month, counted from
  /// the later of their probation and the first month their unit recorded any payment for (a
  /// unit that keeps no dues here puts nobody in arrears). Nil when not tracked.
  func arrearsMonths(_ member: Key16, _ info: LifecycleTally.DuesMember) -> Int? {
    guard let tracked = tally.firstPaid[info.unit] else { return nil }
    let paid = tally.payments[member] ?? []
    var from = max(tracked, info.since)
    if let last = paid.map(\.to).max() { from = max(from, Dues.adding(1, to: last)) }
    return Dues.months(from: from, to: lastOwedMonth)
  }

  /// Folds the lifecycle tallies into the rows (called by `build`).
  mutating func buildLifecycle() {
    // The year's owed months: January to the period's end, and not past the last owed month.
    let first = year * 100 + 1
    let last = min(Dues.month(end), lastOwedMonth)
    // Per slot, then into the rows: the loops below run once per party member.
    var due = [Int64](repeating: 0, count: slotKeys.count)
    var paid = due
    var behind = [UInt32](repeating: 0, count: slotKeys.count)
    func owed(_ slot: Int, monthly: Int64, since: Int32) {
      let owedFrom = max(first, since)
      if last >= owedFrom { due[slot] += monthly * Int64(Dues.months(from: owedFrom, to: last)) }
    }
    func pay(_ slot: Int, _ p: (from: Int32, to: Int32, fen: Int64)) {
      let a = max(p.from, first)
      let b = min(p.to, last)
      guard b >= a else { return }
      let covered = Int64(Dues.months(from: p.from, to: p.to))
      paid[slot] += p.fen * Int64(Dues.months(from: a, to: b)) / max(1, covered)
    }
    for (member, info) in tally.duesMembers {
      // Only units that keep their dues ledger here (any payment recorded) are reckoned: the
      // others' members would all look unpaid.
      guard slotKeys.indices.contains(info.slot), tally.firstPaid[info.unit] != nil else { continue }
      owed(info.slot, monthly: info.monthly, since: info.since)
      for p in tally.payments[member] ?? [] { pay(info.slot, p) }
      if let months = arrearsMonths(member, info), months >= Dues.arrearsThreshold { behind[info.slot] += 1 }
    }
    let elsewhere = !tally.payments.isEmpty
    for d in tally.shared.dues where slotKeys.indices.contains(d.slot) {
      owed(d.slot, monthly: d.monthly, since: d.since)
      var from = d.from
      if elsewhere, let more = tally.payments[d.member] {  // paid through another unit's books
        for p in more { pay(d.slot, p) }
        if let last = more.map(\.to).max() { from = max(from, Dues.adding(1, to: last)) }
      }
      if Dues.months(from: from, to: lastOwedMonth) >= Dues.arrearsThreshold { behind[d.slot] += 1 }
    }
    for p in tally.shared.payments where slotKeys.indices.contains(p.slot) { pay(p.slot, (p.from, p.to, p.fen)) }
    for slot in slotKeys.indices where due[slot] != 0 || paid[slot] != 0 || behind[slot] != 0 {
      rows[slot].row.duesDueFen += due[slot]
      rows[slot].row.duesPaidFen += paid[slot]
      rows[slot].row.duesArrears += behind[slot]
    }
    for slot in slotKeys.indices {
      let c = tally.counts[slot]
      rows[slot].row.inspectionsOverdue = c.inspectionsOverdue
      rows[slot].row.notices = c.notices
      rows[slot].row.supportItems = c.supportItems
      rows[slot].row.supportFen = c.supportFen
      rows[slot].row.commitmentsKeptLate = c.keptLate
      rows[slot].row.conversionsDue = c.conversionsDue
      rows[slot].row.activistsReady = c.activistsReady
      rows[slot].row.pledgesPublic = c.pledges
      rows[slot].row.leaderReviews = c.leaderReviews
      rows[slot].row.pairingsActive = c.pairings
      rows[slot].row.targetsSet = c.targetsSet
      rows[slot].row.targetsMet = c.targetsMet
    }
    // A member is rated once: the latest review wins, wherever it was recorded.
    var reviewed = [UInt32](repeating: 0, count: slotKeys.count)
    var unfit = reviewed
    func rate(_ slot: Int, _ grade: Int) {
      guard reviewed.indices.contains(slot) else { return }
      reviewed[slot] += 1
      if grade == Orgsync_V1_AssessmentGrade.incompetent.rawValue { unfit[slot] += 1 }
    }
    var reviews = tally.reviews
    for r in tally.shared.reviews {
      if !reviews.isEmpty, let other = reviews[r.member] {  // also rated in another unit's records
        if LifecycleTally.supersedes((r.day, r.grade), (other.day, other.grade)) {
          reviews[r.member] = (r.slot, r.grade, r.day)
        }
      } else {
        rate(r.slot, r.grade)
      }
    }
    for (_, review) in reviews { rate(review.slot, review.grade) }
    for slot in slotKeys.indices where reviewed[slot] != 0 {
      rows[slot].row.membersReviewed += reviewed[slot]
      rows[slot].row.membersIncompetent += unfit[slot]
    }
    for (unit, rating) in tally.stars where units[unit]?.level == .grassroots {
      guard rows.indices.contains(rating.slot) else { continue }
      rows[rating.slot].row.unitsRated += 1
      rows[rating.slot].row.stars += UInt32(max(0, rating.stars))
    }
    for unread in unreadNotices() { rows[unread.slot].row.noticesUnread += 1 }
    let codes = tally.transfers.isEmpty ? [:] : unitsByCode
    for t in tally.transfers {
      let issuerIn = branchOf[t.issuer]
      let destination = codes[t.code]
      let destinationIn = destination.flatMap { branchOf[$0] }
      if t.status == Orgsync_V1_TransferStatus.issued.rawValue, let slot = issuerIn {
        rows[slot].row.transfersInTransit += 1
      }
      guard t.status == Orgsync_V1_TransferStatus.accepted.rawValue, t.answered.year == year else { continue }
      if let slot = issuerIn, destinationIn == nil { rows[slot].row.transfersOut += 1 }
      if let slot = destinationIn, issuerIn == nil { rows[slot].row.transfersIn += 1 }
    }
  }

  /// (notice, grassroots unit, slot) for each unit in this subtree a notice of the period was
  /// addressed to (its audience's subtree) that has not signed for it.
  func unreadNotices() -> [(notice: Key16, unit: Key16, slot: Int)] {
    guard !tally.notices.isEmpty else { return [] }
    // Notices by audience (indices into `tally.notices`), so each unit looks up only those
    // addressed to it or a unit above it: a province has ~48,000 villages and hundreds of
    // notices, and testing every notice against every village was a fifth of its roll-up.
    // An audience this builder does not know lies above the root (the server feeds only the
    // subtree's units): every unit here was addressed.
    var byAudience: [Key16: [Int]] = [:]
    var everyone: [Int] = []
    for (i, notice) in tally.notices.enumerated() {
      if units[notice.audience] == nil {
        everyone.append(i)
      } else {
        byAudience[notice.audience, default: []].append(i)
      }
    }
    var unread: [(Key16, Key16, Int)] = []
    for (key, info) in units where info.level == .grassroots {
      guard let slot = branchOf[key] else { continue }
      var addressed = everyone
      var seen: [Key16] = []  // a few ancestors: a list beats hashing
      var current = key
      for _ in 0..<64 {
        guard let up = units[current], !seen.contains(current) else { break }
        seen.append(current)
        addressed += byAudience[current] ?? []
        current = up.parent
      }
      guard !addressed.isEmpty else { continue }
      addressed.sort()  // in the notices' order, as listed
      for i in addressed where !tally.receipts.contains(.init(notice: tally.notices[i].id, unit: key)) {
        unread.append((tally.notices[i].id, key, slot))
      }
    }
    return unread
  }

  /// Units by organisation code (for transfers, which name their receiving unit by code).
  var unitsByCode: [String: Key16] {
    var map: [String: Key16] = [:]
    for (key, info) in units where !info.code.isEmpty { map[info.code] = key }
    return map
  }

  /// Named lists of the lifecycle: transfers in transit (either end in this subtree) and members
  /// six months or more behind with their dues (with how many months).
  func namedLifecycle(into named: inout Named) {
    let codes = unitsByCode
    for t in tally.transfers where t.status == Orgsync_V1_TransferStatus.issued.rawValue {
      let incoming = codes[t.code].map { branchOf[$0] != nil } ?? false
      if branchOf[t.issuer] != nil || incoming { named.transfersInTransit.append(t.id.bytes) }
    }
    for (member, info) in tally.duesMembers {
      if let behind = arrearsMonths(member, info), behind >= Dues.arrearsThreshold {
        named.duesArrears.append((member.bytes, behind))
      }
    }
    for d in tally.shared.dues {
      var from = d.from
      if let last = tally.payments[d.member]?.map(\.to).max() { from = max(from, Dues.adding(1, to: last)) }
      let behind = Dues.months(from: from, to: lastOwedMonth)
      if behind >= Dues.arrearsThreshold { named.duesArrears.append((d.member.bytes, behind)) }
    }
    named.duesArrears.sort { $0.months > $1.months }
    named.noticesUnread = unreadNotices().map { ($0.notice.bytes, $0.unit.bytes) }
  }
}

extension Array {
  subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

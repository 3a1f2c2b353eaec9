import OrgSyncProto

/// A unit's share of a roll-up: what its own records add to any roll-up of one period, whatever
/// the root asked for and whatever the day. The server keeps one per unit and period, marked out
/// of date in the transaction that changes any of the unit's records, so a roll-up reads a few
/// bytes per unit instead of every record (ARCHITECTURE.md, "Roll-ups kept on write").
///
/// A share is a `RollUpBuilder` fed with one unit's records only (that unit as its root, one
/// slot); nothing in it depends on today (`RollUpBuilder.dated`) or on where the unit sits.
/// Its encoding is private to the server and this file: a version byte, then the builder's
/// state in a fixed order, integers as varints (signed ones zig-zagged), ids as 16 bytes. It is
/// hand-written rather than a protobuf message because it is not part of the protocol, and
/// because reading 50,000 of them is the whole cost of a province's roll-up.
extension RollUpBuilder {
  static let partialVersion: UInt8 = 2

  /// A builder for the records of `unit` alone.
  public init(partialOf unit: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod) {
    self.init(root: unit, year: year, period: period, today: CalendarDate.make(Int(year), 1, 1))
    addUnit(id: unit, unit: Orgsync_V1_OrgUnit())
    index()
    localMembers = []
  }

  /// The share's encoding (call on a builder made by `init(partialOf:)` and fed its unit's
  /// records; never built).
  public func partialBytes() -> [UInt8] {
    var w = PartialWriter()
    w.out.append(Self.partialVersion)
    let c = counts.first ?? Counts()
    let l = tally.counts.first ?? .init()
    for n in [c.members, c.leadingCadres] + c.byStatus + [c.opinions, c.problemsOpen, c.problemsResolved] {
      w.u(n)
    }
    w.count(c.resolveDays)
    for d in c.resolveDays { w.s(d) }
    for n in [c.commitmentsDue, c.commitmentsFulfilledOnTime, c.commitmentsOverdue, c.meetings, c.serviceCases] {
      w.u(n)
    }
    for n in [l.inspectionsOverdue, l.notices, l.supportItems] { w.u(n) }
    w.s(l.supportFen)
    for n in [
      l.keptLate, l.conversionsDue, l.activistsReady, l.pledges, l.leaderReviews, l.pairings, l.targetsSet,
      l.targetsMet,
    ] { w.u(n) }
    w.count(cadres)
    for cadre in cadres.keys { w.key(cadre) }
    w.count(dated.members)
    for m in dated.members {
      w.key(m.id)
      w.date(m.since)
      w.u(m.probationary ? 1 : 0)
    }
    w.count(dated.lectures)
    for x in dated.lectures {
      w.key(x.speaker)
      w.date(x.held)
    }
    w.count(dated.liaison)
    for x in dated.liaison {
      w.key(x.cadre)
      w.date(x.until)
    }
    for list in [dated.commitments, dated.inspections] {
      w.count(list)
      for x in list {
        w.key(x.id)
        w.date(x.due)
      }
    }
    w.optional(reported[rootKey].map { UInt64($0.rawValue) })
    w.optional(submittedOn[rootKey].map { UInt64(bitPattern: Int64($0)) })
    for list in [openProblems, keptLate] {
      w.count(list)
      for id in list { w.key(id) }
    }
    if let life = organisationalLife[rootKey] {
      w.u(1)
      for n in life { w.s(n) }
    } else {
      w.u(0)
    }
    w.count(tally.transfers)
    for t in tally.transfers {
      w.key(t.id)
      w.string(t.code)
      w.s(t.status)
      w.date(t.answered)
    }
    w.count(tally.notices)
    for n in tally.notices {
      w.key(n.id)
      w.key(n.audience)
    }
    w.count(tally.receipts)
    for receipt in tally.receipts { w.key(receipt.notice) }
    // Dues and 民主评议 of the unit's own members, reckoned as far as they can be without today
    // (`LifecycleTally.shared`); what its records say of members elsewhere goes as it is. A
    // unit that keeps no dues ledger puts none of its members in any dues figure.
    let tracked = tally.firstPaid[rootKey]
    let dues = tracked != nil ? Array(tally.duesMembers) : []
    w.count(dues)
    for (member, info) in dues {
      let paid = tally.payments[member] ?? []
      var from = max(tracked ?? 0, info.since)
      if let last = paid.map(\.to).max() { from = max(from, Dues.adding(1, to: last)) }
      w.key(member)
      w.s(info.monthly)
      w.s(info.since)
      w.s(from)
      w.count(paid)
      for p in paid {
        w.s(p.from)
        w.s(p.to)
        w.s(p.fen)
      }
    }
    let foreignPayments = tally.payments.filter { tally.duesMembers[$0.key] == nil || tracked == nil }
    w.count(foreignPayments)
    for (member, paid) in foreignPayments {
      w.key(member)
      w.count(paid)
      for p in paid {
        w.s(p.from)
        w.s(p.to)
        w.s(p.fen)
      }
    }
    let members = localMembers ?? []
    for local in [true, false] {
      let reviews = tally.reviews.filter { members.contains($0.key) == local }
      w.count(reviews)
      for (member, r) in reviews {
        w.key(member)
        w.s(r.grade)
        w.s(r.day)
      }
    }
    if let s = tally.stars[rootKey] {
      w.u(1)
      w.s(s.stars)
      w.s(s.day)
    } else {
      w.u(0)
    }
    return w.out
  }

  /// Adds a unit's share to this roll-up, as if its records had been added one by one. Throws
  /// (and adds nothing) when the bytes are not a share this version wrote: the caller reads
  /// the unit's records instead. A unit is either absorbed or fed record by record, never both.
  public mutating func absorb(partial bytes: UnsafeRawBufferPointer, unit unitID: [UInt8]) throws {
    index()
    let unit = Key16(unitID)
    // Decoded whole first, then added: a share cut short changes nothing.
    var share = try Share(bytes, unit: unit)
    guard let slot = branchOf[unit] else {
      // A unit no longer on record (dissolved and deleted): as when its records are read one
      // by one, only its transfers and notices still reach the subtree's figures.
      tally.transfers += share.transfers
      tally.notices += share.notices
      return
    }
    counts[slot].absorb(share.counts)
    tally.counts[slot].absorb(share.lifecycle)
    for cadre in share.cadres { cadres[cadre] = slot }
    for i in share.dated.members.indices { share.dated.members[i].slot = slot }
    for i in share.dated.commitments.indices { share.dated.commitments[i].slot = slot }
    for i in share.dated.inspections.indices { share.dated.inspections[i].slot = slot }
    dated.append(share.dated) { $0 }
    if let status = share.reported {
      if Self.rank(status) >= Self.rank(reported[unit] ?? .draft) { reported[unit] = status }
    }
    if let day = share.submittedOn { submittedOn[unit] = min(submittedOn[unit] ?? .max, day) }
    openProblems += share.openProblems
    keptLate += share.keptLate
    if let life = share.organisationalLife {
      organisationalLife[unit] = zip(organisationalLife[unit] ?? Array(repeating: 0, count: 16), life).map(+)
    }
    tally.transfers += share.transfers
    tally.notices += share.notices
    for notice in share.receipts { tally.receipts.insert(.init(notice: notice, unit: unit)) }
    for var d in share.dues {
      d.slot = slot
      tally.shared.dues.append(d)
    }
    for p in share.payments { tally.shared.payments.append((slot, p.from, p.to, p.fen)) }
    for (member, paid) in share.foreignPayments { tally.payments[member, default: []] += paid }
    for r in share.reviews { tally.shared.reviews.append((r.member, slot, r.grade, r.day)) }
    for r in share.foreignReviews
    where LifecycleTally.supersedes((r.day, r.grade), tally.reviews[r.member].map { ($0.day, $0.grade) }) {
      tally.reviews[r.member] = (slot, r.grade, r.day)
    }
    if let s = share.stars,
      LifecycleTally.supersedes((s.day, s.stars), tally.stars[unit].map { ($0.day, $0.stars) })
    {
      tally.stars[unit] = (slot, s.stars, s.day)
    }
  }

  /// A share as decoded, before it is added (slots are filled in then).
  struct Share {
    var counts = Counts()
    var lifecycle = LifecycleTally.Counts()
    var cadres: [Key16] = []
    var dated = Dated()
    var reported: Orgsync_V1_ReportStatus?
    var submittedOn: Int?
    var openProblems: [Key16] = []
    var keptLate: [Key16] = []
    var organisationalLife: [Int]?
    var transfers: [LifecycleTally.TransferSeen] = []
    var notices: [(id: Key16, audience: Key16)] = []
    var receipts: [Key16] = []
    var dues: [LifecycleTally.SharedDues] = []
    var payments: [(from: Int32, to: Int32, fen: Int64)] = []
    var foreignPayments: [(Key16, [(from: Int32, to: Int32, fen: Int64)])] = []
    var reviews: [(member: Key16, grade: Int, day: Int)] = []
    var foreignReviews: [(member: Key16, grade: Int, day: Int)] = []
    var stars: (stars: Int, day: Int)?

    init(_ bytes: UnsafeRawBufferPointer, unit: Key16) throws {
      var r = PartialReader(bytes: bytes)
      guard try r.byte() == RollUpBuilder.partialVersion else { throw PartialReader.Malformed() }
      var c = Counts()
      c.members = try r.u32()
      c.leadingCadres = try r.u32()
      for i in 0..<16 { c.byStatus[i] = try r.u32() }
      c.opinions = try r.u32()
      c.problemsOpen = try r.u32()
      c.problemsResolved = try r.u32()
      c.resolveDays = try (0..<r.count()).map { _ in try r.int() }
      c.commitmentsDue = try r.u32()
      c.commitmentsFulfilledOnTime = try r.u32()
      c.commitmentsOverdue = try r.u32()
      c.meetings = try r.u32()
      c.serviceCases = try r.u32()
      counts = c
      var l = LifecycleTally.Counts()
      l.inspectionsOverdue = try r.u32()
      l.notices = try r.u32()
      l.supportItems = try r.u32()
      l.supportFen = try r.int64()
      l.keptLate = try r.u32()
      l.conversionsDue = try r.u32()
      l.activistsReady = try r.u32()
      l.pledges = try r.u32()
      l.leaderReviews = try r.u32()
      l.pairings = try r.u32()
      l.targetsSet = try r.u32()
      l.targetsMet = try r.u32()
      lifecycle = l
      cadres = try (0..<r.count()).map { _ in try r.key() }
      for _ in 0..<(try r.count()) { dated.members.append((try r.key(), try r.date(), try r.u32() != 0, 0)) }
      for _ in 0..<(try r.count()) { dated.lectures.append((try r.key(), try r.date(), unit)) }
      for _ in 0..<(try r.count()) { dated.liaison.append((try r.key(), try r.date())) }
      for _ in 0..<(try r.count()) { dated.commitments.append((try r.key(), try r.date(), 0)) }
      for _ in 0..<(try r.count()) { dated.inspections.append((try r.key(), try r.date(), 0)) }
      if let status = try r.optional() {
        reported = Orgsync_V1_ReportStatus(rawValue: Int(truncatingIfNeeded: status)) ?? .unspecified
      }
      if let day = try r.optional() { submittedOn = Int(truncatingIfNeeded: Int64(bitPattern: day)) }
      openProblems = try (0..<r.count()).map { _ in try r.key() }
      keptLate = try (0..<r.count()).map { _ in try r.key() }
      if try r.u32() != 0 { organisationalLife = try (0..<16).map { _ in try r.int() } }
      for _ in 0..<(try r.count()) {
        transfers.append(
          .init(id: try r.key(), issuer: unit, code: try r.string(), status: try r.int(), answered: try r.date()))
      }
      for _ in 0..<(try r.count()) { notices.append((try r.key(), try r.key())) }
      receipts = try (0..<r.count()).map { _ in try r.key() }
      for _ in 0..<(try r.count()) {
        dues.append(
          .init(member: try r.key(), slot: 0, monthly: try r.int64(), since: try r.int32(), from: try r.int32()))
        for _ in 0..<(try r.count()) { payments.append((try r.int32(), try r.int32(), try r.int64())) }
      }
      for _ in 0..<(try r.count()) {
        foreignPayments.append(
          (try r.key(), try (0..<r.count()).map { _ in (try r.int32(), try r.int32(), try r.int64()) }))
      }
      reviews = try (0..<r.count()).map { _ in (try r.key(), try r.int(), try r.int()) }
      foreignReviews = try (0..<r.count()).map { _ in (try r.key(), try r.int(), try r.int()) }
      if try r.u32() != 0 { stars = (try r.int(), try r.int()) }
      guard r.atEnd else { throw PartialReader.Malformed() }
    }
  }

  public mutating func absorb(partial bytes: [UInt8], unit: [UInt8]) throws {
    try bytes.withUnsafeBytes { try absorb(partial: $0, unit: unit) }
  }
}

extension Key16 {
  init(a: UInt64, b: UInt64) {
    self.init([UInt8]())
    self.a = a
    self.b = b
  }
}

struct PartialWriter {
  var out: [UInt8] = []

  mutating func u<I: BinaryInteger>(_ n: I) { Varint.append(UInt64(n), to: &out) }
  mutating func s<I: BinaryInteger>(_ n: I) {
    let v = Int64(n)
    Varint.append(UInt64(bitPattern: (v << 1) ^ (v >> 63)), to: &out)
  }
  mutating func count<C: Collection>(_ c: C) { Varint.append(UInt64(c.count), to: &out) }
  mutating func key(_ k: Key16) {
    for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: k.a >> UInt64(shift))) }
    for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: k.b >> UInt64(shift))) }
  }
  mutating func date(_ d: Orgsync_V1_Date) {
    s(d.year)
    s(d.month)
    s(d.day)
  }
  mutating func string(_ text: String) {
    let utf8 = Array(text.utf8)
    count(utf8)
    out += utf8
  }
  mutating func optional(_ value: UInt64?) {
    if let value {
      u(1)
      u(value)
    } else {
      u(0)
    }
  }
}

struct PartialReader {
  struct Malformed: Error {}
  let bytes: UnsafeRawBufferPointer
  var index = 0

  var atEnd: Bool { index == bytes.count }

  mutating func byte() throws -> UInt8 {
    guard index < bytes.count else { throw Malformed() }
    defer { index += 1 }
    return bytes[index]
  }
  mutating func varint() throws -> UInt64 {
    guard let v = Varint.read(bytes, at: &index) else { throw Malformed() }
    return v
  }
  mutating func u32() throws -> UInt32 {
    let v = try varint()
    guard v <= UInt64(UInt32.max) else { throw Malformed() }
    return UInt32(v)
  }
  mutating func int64() throws -> Int64 {
    let v = try varint()
    return Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
  }
  mutating func int() throws -> Int { Int(try int64()) }
  mutating func int32() throws -> Int32 { Int32(truncatingIfNeeded: try int64()) }
  /// A count of items to follow, each at least a byte: more than the bytes left is malformed.
  mutating func count() throws -> Int {
    let n = try varint()
    guard n <= UInt64(bytes.count - index) else { throw Malformed() }
    return Int(n)
  }
  mutating func key() throws -> Key16 {
    guard bytes.count - index >= 16 else { throw Malformed() }
    var a: UInt64 = 0
    var b: UInt64 = 0
    for i in 0..<8 { a = a << 8 | UInt64(bytes[index + i]) }
    for i in 8..<16 { b = b << 8 | UInt64(bytes[index + i]) }
    index += 16
    return Key16(a: a, b: b)
  }
  mutating func date() throws -> Orgsync_V1_Date {
    var d = Orgsync_V1_Date()
    d.year = try int32()
    d.month = try int32()
    d.day = try int32()
    return d
  }
  mutating func string() throws -> String {
    let n = try count()
    defer { index += n }
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<index + n]), as: UTF8.self)
  }
  mutating func optional() throws -> UInt64? {
    try u32() != 0 ? try varint() : nil
  }
}

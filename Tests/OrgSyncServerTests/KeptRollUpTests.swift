import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncSample
import OrgSyncStore
import Testing

/// A roll-up read from the units' kept shares is the roll-up their records give, cell by cell,
/// whatever was written since the shares were kept.
@Suite("Roll-ups kept on write")
struct KeptRollUpTests {
  static let periods: [(Int32, Orgsync_V1_ReportPeriod)] = [(2026, .q3), (2026, .h1), (2026, .year), (2025, .q4)]

  /// The sample county, small: 3 townships of 4 villages, a year of activity. A fifth of the
  /// records is held back, to be created between roll-ups.
  struct Books {
    let store: any SQLRecordStore
    let sample: SampleCounty
    var admin: Actor { Actor(deviceID: Array("admin".utf8), unitID: sample.countyID, role: .admin) }
    var committee: Actor { Actor(deviceID: Array("county".utf8), unitID: sample.countyID, role: .committee) }
    /// Live records by id: the mutation that made them (its body as now stored) and their version.
    var live: [Data: (mutation: Orgsync_V1_Mutation, version: Int64)] = [:]
    var heldBack: [Orgsync_V1_Mutation] = []

    init() async throws {
      var options = SampleCounty.Options()
      options.townships = 3
      options.villagesPerTownship = 4
      options.membersPerVillage = 12
      options.throughMonth = 12
      sample = SampleCounty(options: options)
      store = try await County.makeStore(path: nil, clock: { Date() })
      for result in try await store.importUnits(sample.units) { #expect(result.outcome == .applied) }
      var first: [Orgsync_V1_Mutation] = []
      for (i, m) in sample.records.enumerated() {
        if i % 5 == 4 { heldBack.append(m) } else { first.append(m) }
      }
      try await push(first)
    }

    /// Pushes `mutations` as the administrator and notes what was applied; returns how many were.
    @discardableResult
    mutating func push(_ mutations: [Orgsync_V1_Mutation]) async throws -> Int {
      let results = try await store.push(mutations, actor: admin)
      var applied = 0
      for (m, result) in zip(mutations, results) where [.applied, .merged].contains(result.outcome) {
        applied += 1
        if m.delete {
          live[m.recordID] = nil
        } else {
          var stored = live[m.recordID]?.mutation ?? m
          stored.unitID = m.unitID
          if m.baseVersion == 0 || !m.fields.isEmpty { stored.body = m.body }
          live[m.recordID] = (stored, result.version)
        }
      }
      return applied
    }
  }

  /// Every roll-up the kept shares give — as the shares are first computed, and once they are
  /// kept — equals the full recomputation, for the county and a township, in several periods.
  static func expectKeptEqualsRecomputed(_ books: Books, _ moment: String) async throws {
    for root in [books.sample.countyID, books.sample.townshipIDs[1]] {
      for (year, period) in periods {
        var request = Orgsync_V1_RollUpRequest()
        request.unitID = Data(root)
        request.year = year
        request.period = period
        let computing = try await books.store.rollUp(actor: books.committee, request: request)
        let kept = try await books.store.rollUp(actor: books.committee, request: request)
        let full = try await books.store.recomputedRollUp(actor: books.committee, request: request)
        let at = "\(moment), \(year) \(period)"
        // Compared whole (the failure names the first differing line, not two dumps).
        let (computedSame, keptSame) = (computing == full, kept == full)
        #expect(computedSame, "\(at), shares computed: \(difference(computing, full))")
        #expect(keptSame, "\(at), shares kept: \(difference(kept, full))")
      }
    }
  }

  /// The first line of the text form where two roll-ups differ.
  static func difference(_ a: Orgsync_V1_RollUp, _ b: Orgsync_V1_RollUp) -> String {
    let (x, y) = (a.textFormatString().split(separator: "\n"), b.textFormatString().split(separator: "\n"))
    for (i, (l, r)) in zip(x, y).enumerated() where l != r { return "line \(i): \(l) ≠ \(r)" }
    return x.count == y.count ? "no difference in text" : "\(x.count) lines ≠ \(y.count)"
  }

  @Test("after random creates, edits, moves of records and units, and deletes, kept equals recomputed")
  func randomEdits() async throws {
    var books = try await Books()
    var rng = SplitMix64(seed: 14)
    // The county is not empty: a test that compares two empty roll-ups proves nothing.
    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .year
    let before = try await books.store.rollUp(actor: books.committee, request: request)
    #expect(before.total.members > 100 && before.total.opinions > 0 && before.total.meetings > 0)
    try await Self.expectKeptEqualsRecomputed(books, "as loaded")

    var applied = [String: Int]()
    for round in 0..<6 {
      var batch: [(String, Orgsync_V1_Mutation)] = []
      let ids = books.live.keys.sorted { $0.lexicographicallyPrecedes($1) }
      let records = ids.compactMap { id in books.live[id].map { (id, $0) } }.filter { $0.1.mutation.type != .orgUnit }
      for _ in 0..<40 {
        let (id, (m, version)) = records[Int(rng.next() % UInt64(records.count))]
        var change = create(m.body, id: Array(id), unit: Array(m.unitID))
        change.baseVersion = version
        switch rng.next() % 5 {
        case 0:  // a held-back record arrives
          guard !books.heldBack.isEmpty else { continue }
          batch.append(("create", books.heldBack.removeLast()))
          continue
        case 1:  // every field of the record takes another record's values of the same type
          let others = records.filter { $0.1.mutation.type == m.type }
          change.body = others[Int(rng.next() % UInt64(others.count))].1.mutation.body
          change.fields = RecordKinds.fieldNumbers(of: m.type).compactMap { RecordKinds.fieldName($0, of: m.type) }
          batch.append(("edit", change))
        case 2:  // the record moves to another village
          change.unitID = Data(books.sample.villageIDs[Int(rng.next() % UInt64(books.sample.villageIDs.count))])
          batch.append(("move", change))
        case 3:
          change.delete = true
          batch.append(("delete", change))
        default:  // a village moves to another township
          let village = books.sample.villageIDs[Int(rng.next() % UInt64(books.sample.villageIDs.count))]
          guard var unit = books.sample.units.first(where: { $0.id == village })?.unit else { continue }
          unit.parentID = Data(books.sample.townshipIDs[Int(rng.next() % UInt64(books.sample.townshipIDs.count))])
          var move = create(.with { $0.orgUnit = unit }, id: village, unit: village)
          move.baseVersion = books.live[Data(village)]?.version ?? 1
          move.fields = ["parent_id"]
          batch.append(("unit move", move))
        }
      }
      // One at a time, so that each kind's outcome is counted.
      for (kind, mutation) in batch {
        applied[kind, default: 0] += try await books.push([mutation])
      }
      try await Self.expectKeptEqualsRecomputed(books, "after round \(round)")
    }
    // Each kind of change was applied, and changed what the county sees.
    for kind in ["create", "edit", "move", "delete", "unit move"] {
      #expect(applied[kind, default: 0] > 0, "no \(kind) was applied: \(applied)")
    }
    let after = try await books.store.rollUp(actor: books.committee, request: request)
    #expect(after != before)
  }

  @Test("a roll-up after a write shows it: a kept share is not used once its unit's records change")
  func staleShareNotUsed() async throws {
    var books = try await Books()
    var request = Orgsync_V1_RollUpRequest()
    request.unitID = Data(books.sample.townshipIDs[0])
    request.year = 2026
    request.period = .year
    let village = books.sample.villageIDs[0]
    func row() async throws -> Orgsync_V1_UnitRollUp? {
      let rollUp = try await books.store.rollUp(actor: books.committee, request: request)
      return rollUp.rows.first { $0.unitID == Data(village) }
    }
    _ = try await row()
    let kept = try #require(try await row())
    // A new member and an opinion, then the roll-up again: both show.
    var o = opinion()
    o.opinion.date = CalendarDate.make(2026, 8, 1)
    #expect(try await books.push([create(member("新党员"), unit: village), create(o, unit: village)]) == 2)
    let after = try #require(try await row())
    #expect(after.members == kept.members + 1)
    #expect(after.opinions == kept.opinions + 1)
    try await Self.expectKeptEqualsRecomputed(books, "after the new member")
  }

  @Test("a county's shares added give what its records give; a share that cannot be read is refused and adds nothing")
  func sharesAdded() throws {
    var options = SampleCounty.Options()
    options.townships = 10  // 251 units
    options.membersPerVillage = 12
    let sample = SampleCounty(options: options)
    let today = CalendarDate.make(2026, 10, 20)
    func records(of unit: [UInt8]?) -> [(Orgsync_V1_RecordType, [UInt8], [UInt8], [UInt8])] {
      sample.records.filter { !$0.delete && (unit == nil || Array($0.unitID) == unit) }.map {
        (RecordKinds.type(of: $0.body), Array($0.recordID), Array($0.unitID), RecordKinds.bytes(of: $0.body))
      }
    }
    var partials: [[UInt8]: RollUpBuilder] = [:]
    for (id, _) in sample.units { partials[id] = RollUpBuilder(partialOf: id, year: 2026, period: .q3) }
    for (type, id, unit, bytes) in records(of: nil) {
      partials[unit]?.add(type: type, id: id, unitID: unit, bytes: bytes)
    }
    let shares = sample.units.map { (unit: $0.id, bytes: partials[$0.id]!.partialBytes()) }
    func empty() -> RollUpBuilder {
      var builder = RollUpBuilder(root: sample.countyID, year: 2026, period: .q3, today: today)
      for (id, unit) in sample.units { builder.addUnit(id: id, unit: unit) }
      return builder
    }
    var fromRecords = empty()
    for (type, id, unit, bytes) in records(of: nil) { fromRecords.add(type: type, id: id, unitID: unit, bytes: bytes) }
    let expected = fromRecords.build()
    #expect(expected.total.members > 0 && expected.total.opinions > 0 && expected.rows.count == 11)

    var oneByOne = empty()
    for share in shares { try oneByOne.absorb(partial: share.bytes, unit: share.unit) }
    let byOne = oneByOne.build()
    #expect(byOne == expected, "from shares: \(Self.difference(byOne, expected))")

    // A share of another version is refused and adds nothing; its village's records are read.
    var partly = empty()
    for share in shares where share.unit != sample.villageIDs[3] {
      try partly.absorb(partial: share.bytes, unit: share.unit)
    }
    #expect(throws: (any Error).self) { try partly.absorb(partial: [0xFF, 1, 2], unit: sample.villageIDs[3]) }
    for (type, id, unit, bytes) in records(of: sample.villageIDs[3]) {
      partly.add(type: type, id: id, unitID: unit, bytes: bytes)
    }
    let mended = partly.build()
    #expect(mended == expected, "mended: \(Self.difference(mended, expected))")
  }
}

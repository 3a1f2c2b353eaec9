import Foundation
import OrgSyncCore
import OrgSyncProto

/// A unit's share as computed from its records, with the generation it reflects.
struct RollUpShare: Sendable {
  var num: Int64
  var gen: Int64
  var body: [UInt8]
}

extension SQLRecordStore {
  /// The roll-up of a subtree, from the units' kept shares (`RollUpBuilder.absorb(partial:)`):
  /// each unit's share of the period is read if it is as new as the unit's records, and
  /// computed from those records — then kept — if not.
  ///
  /// Every write of a record moves its unit's generation (`rollup_gen`, in the write's own
  /// transaction: `MutationApplier.markRollUpStale`); a share is kept with the generation it
  /// was computed at, read in the same snapshot as the records it came from. A share whose
  /// generation is behind is never used, so a write that commits while a roll-up computes
  /// cannot leave a stale share behind. Nothing here depends on today: shares hold their dated
  /// items, judged when the roll-up is built.
  public func rollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp {
    let rootID = request.unitID.isEmpty ? actor.unitID : Array(request.unitID)
    let today = CalendarDate.today(now: clock())
    let (year, period) = (request.year, request.period)
    let (rollUp, fresh) = try await engine.read { db in
      let (root, units) = try Self.rollUpUnits(db, actor: actor, rootID: rootID)
      var builder = RollUpBuilder(root: rootID, year: year, period: period, today: today)
      for (id, unit) in units { builder.addUnit(id: id, unit: unit) }
      let (low, high) = root.subtreeRange
      // Every unit row in the subtree (a dissolved unit's transfers and notices still count),
      // with its share when that share is current.
      var missing: [Int64: [UInt8]] = [:]
      try db.scan(
        """
        SELECT u.num, u.id, CASE WHEN p.gen = coalesce(g.gen, 0) THEN p.body END, u.id FROM units u
        LEFT JOIN rollup_gen g ON g.unit_num = u.num
        LEFT JOIN rollup_partials p ON p.unit_num = u.num AND p.year = ? AND p.period = ?
        WHERE u.path >= ? AND u.path < ?
        """, [Int64(year), Int64(period.rawValue), low, high]
      ) { num, id, share, _ in
        let unit = [UInt8](id)
        if share.isEmpty || (try? builder.absorb(partial: share, unit: unit)) == nil { missing[Int64(num)] = unit }
      }
      let fresh = try Self.computeShares(db, units: missing, year: year, period: period)
      for share in fresh { try builder.absorb(partial: share.body, unit: missing[share.num]!) }
      try Self.feedIncomingTransfers(&builder, db: db, low: low, high: high)
      return (builder.build(), fresh)
    }
    if !fresh.isEmpty {
      // Kept for the next roll-up. Only a cache of the records: a failure here (a full disk)
      // costs the next roll-up the same reading again, and nothing else.
      try? await engine.write { db in try Self.keepShares(db, fresh, year: year, period: period) }
    }
    return rollUp
  }

  /// Computes the shares of `units` (by number) from their records, in this snapshot.
  static func computeShares(
    _ db: any SQLSession, units: [Int64: [UInt8]], year: Int32, period: Orgsync_V1_ReportPeriod
  ) throws -> [RollUpShare] {
    guard !units.isEmpty else { return [] }
    var builders: [Int64: RollUpBuilder] = [:]
    var gens: [Int64: Int64] = [:]
    for (num, id) in units { builders[num] = RollUpBuilder(partialOf: id, year: year, period: period) }
    let nums = Array(units.keys)
    for start in stride(from: 0, to: nums.count, by: 500) {
      let batch: [any SQLBindable] = nums[start..<min(nums.count, start + 500)].map { $0 }
      for row in try db.fetchAll(
        "SELECT unit_num, gen FROM rollup_gen WHERE unit_num IN (\(placeholders(batch.count)))", batch)
      {
        gens[row[0]] = row[1]
      }
      // The unit and the type travel in the one integer column `scan` hands over.
      try db.scan(
        """
        SELECT r.unit_num * 256 + r.type, r.id, r.id, r.body FROM records r
        WHERE r.deleted = 0 AND r.type IN (\(RollUpBuilder.recordTypesSQL))
          AND r.unit_num IN (\(placeholders(batch.count)))
        """, batch
      ) { key, id, _, body in
        let num = Int64(key >> 8)
        let unit = units[num]!
        unit.withUnsafeBytes { unit in
          builders[num]?.add(
            type: Orgsync_V1_RecordType(rawValue: key & 0xFF) ?? .unspecified, id: id, unitID: unit, bytes: body)
        }
      }
    }
    return builders.map { RollUpShare(num: $0.key, gen: gens[$0.key] ?? 0, body: $0.value.partialBytes()) }
  }

  /// Keeps computed shares; a share already kept at a later generation stays.
  static func keepShares(
    _ db: any SQLSession, _ shares: [RollUpShare], year: Int32, period: Orgsync_V1_ReportPeriod
  ) throws {
    for start in stride(from: 0, to: shares.count, by: 100) {
      let batch = shares[start..<min(shares.count, start + 100)]
      var arguments: [any SQLBindable] = []
      for share in batch {
        arguments += [share.num, Int64(year), Int64(period.rawValue), share.gen, Data(share.body)]
      }
      try db.execute(
        """
        INSERT INTO rollup_partials (unit_num, year, period, gen, body)
        VALUES \(Array(repeating: "(?, ?, ?, ?, ?)", count: batch.count).joined(separator: ", "))
        ON CONFLICT (unit_num, year, period) DO UPDATE SET gen = excluded.gen, body = excluded.body
          WHERE rollup_partials.gen <= excluded.gen
        """, arguments)
    }
  }

  /// The roll-up's root (checked against the device's subtree) and the subtree's live units.
  static func rollUpUnits(_ db: any SQLSession, actor: Actor, rootID: [UInt8]) throws
    -> (UnitRow, [([UInt8], Orgsync_V1_OrgUnit)])
  {
    let tree = Tree(db: db)
    guard let root = try tree.unit(id: rootID), let mine = try tree.unit(id: actor.unitID),
      root.path.hasPrefix(mine.path)
    else {
      throw StoreError(.permissionDenied, "this unit is not in the device's subtree")
    }
    let (low, high) = root.subtreeRange
    let units = try db.fetchAll(
      """
      SELECT r.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
      WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type = 1
      """, [low, high]
    ).map { row in
      ([UInt8](row[0] as Data), try RecordKinds.body(type: .orgUnit, bytes: [UInt8](row[1] as Data)).orgUnit)
    }
    return (root, units)
  }

  /// The same roll-up computed from every record of the subtree, no share used or kept: what
  /// the kept shares must always equal (a test compares them), and the benchmark's baseline.
  ///
  /// The root's children are split into as many parts as there are cores; each part is read in
  /// its own read transaction (WAL readers run in parallel) into its own builder, and the
  /// builders are merged. All parts read one snapshot's worth of data only if nothing is written
  /// meanwhile; a roll-up is a report, not a ledger, so a write landing between parts is fine.
  public func recomputedRollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp {
    let rootID = request.unitID.isEmpty ? actor.unitID : Array(request.unitID)
    let today = CalendarDate.today(now: clock())
    let plan = try await engine.read { db in
      let (root, units) = try Self.rollUpUnits(db, actor: actor, rootID: rootID)
      // The root's own records, then one range per child subtree.
      var ranges = [(root.path, root.path + "\u{1}")]
      for child in try (db.column("SELECT path FROM units WHERE parent_num = ? ORDER BY path", [root.num]) as [String])
      {
        ranges.append((child, String(child.dropLast()) + "0"))
      }
      return (units, ranges, root.subtreeRange)
    }
    let parts = max(1, min(ProcessInfo.processInfo.activeProcessorCount, plan.1.count))
    let builders = try await withThrowingTaskGroup(of: RollUpBuilder.self) { group in
      for part in 0..<parts {
        let ranges = plan.1.enumerated().filter { $0.offset % parts == part }.map(\.element)
        group.addTask {
          try await self.engine.read { db in
            var builder = RollUpBuilder(root: rootID, year: request.year, period: request.period, today: today)
            for (id, unit) in plan.0 { builder.addUnit(id: id, unit: unit) }
            for (low, high) in ranges { try Self.feed(&builder, db: db, low: low, high: high) }
            return builder
          }
        }
      }
      return try await group.reduce(into: [RollUpBuilder]()) { $0.append($1) }
    }
    var builder = builders[0]
    for other in builders.dropFirst() { builder.merge(other) }
    let base = builder
    builder = try await engine.read { db in
      var builder = base
      try Self.feedIncomingTransfers(&builder, db: db, low: plan.2.0, high: plan.2.1)
      return builder
    }
    return builder.build()
  }

  /// Reads the records of units whose path lies in [low, high) into a builder, straight from
  /// the engine's column memory (no row objects, no copies, where the engine allows).
  static func feed(_ builder: inout RollUpBuilder, db: any SQLSession, low: String, high: String) throws {
    try feed(
      &builder, db: db,
      sql: """
        SELECT r.type, r.id, u.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
        WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type IN (\(RollUpBuilder.recordTypesSQL))
        """, arguments: [low, high])
  }

  /// Records issued outside [low, high) that reach into it: transfers addressed to a unit in
  /// it, and notices addressed to it or to a unit above it (the issuer's records, so the
  /// subtree's own range does not hold them).
  static func feedIncomingTransfers(_ builder: inout RollUpBuilder, db: any SQLSession, low: String, high: String)
    throws
  {
    try feed(
      &builder, db: db,
      sql: """
        SELECT r.type, r.id, u.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
        JOIN units a ON a.num = r.audience_num
        WHERE r.deleted = 0 AND NOT (u.path >= ? AND u.path < ?) AND (
          (r.type = \(Orgsync_V1_RecordType.transfer.rawValue) AND a.path >= ? AND a.path < ?)
          OR (r.type = \(Orgsync_V1_RecordType.notice.rawValue)
              AND ((a.path >= ? AND a.path < ?) OR substr(?, 1, length(a.path)) = a.path)))
        """, arguments: [low, high, low, high, low, high, low])
  }

  static func feed(
    _ builder: inout RollUpBuilder, db: any SQLSession, sql: String, arguments: [any SQLBindable]
  ) throws {
    try db.scan(sql, arguments) { type, id, unitID, body in
      builder.add(type: Orgsync_V1_RecordType(rawValue: type) ?? .unspecified, id: id, unitID: unitID, bytes: body)
    }
  }
}

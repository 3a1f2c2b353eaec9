import Foundation
import OrgSyncCore
import OrgSyncProto

extension SQLRecordStore {
  /// The roll-up of a subtree: `RollUpBuilder` fed straight from the database.
  ///
  /// The root's children are split into as many parts as there are cores; each part is read in
  /// its own read transaction (WAL readers run in parallel) into its own builder, and the
  /// builders are merged. All parts read one snapshot's worth of data only if nothing is written
  /// meanwhile; a roll-up is a report, not a ledger, so a write landing between parts is fine.
  public func rollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp {
    let rootID = request.unitID.isEmpty ? actor.unitID : Array(request.unitID)
    let today = CalendarDate.today(now: clock())
    let plan = try await engine.read { db in
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

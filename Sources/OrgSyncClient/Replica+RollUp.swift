import Foundation
import GRDB
import GRDBSQLite
import OrgSyncCore
import OrgSyncProto
import Synchronization

extension Replica {
  /// The member records of a unit and every unit below it (for the year-end statistics).
  public func members(under root: [UInt8]) throws -> [Orgsync_V1_Member] {
    let wanted = try subtree(of: root, units: units())
    return try records(type: .member).filter { wanted.contains($0.unitID) }.map(\.body.member)
  }

  /// Transfers with either end in `root`'s subtree, and which end lies inside it.
  public func transfers(under root: [UInt8]) throws -> [YearEndStatistics.TransferEnds] {
    let units = try units()
    let inside = try subtree(of: root, units: units)
    let codes = Set(inside.compactMap { units[$0]?.code })
    return try records(type: .transfer).map {
      .init(
        transfer: $0.body.transfer, issuedInside: inside.contains($0.unitID),
        receivedInside: codes.contains($0.body.transfer.toUnitCode))
    }.filter { $0.issuedInside || $0.receivedInside }
  }

  func subtree(of root: [UInt8], units: [[UInt8]: Orgsync_V1_OrgUnit]) throws -> Set<[UInt8]> {
    var children: [[UInt8]: [[UInt8]]] = [:]
    for (id, unit) in units { children[Array(unit.parentID), default: []].append(id) }
    var subtree = [root]
    var index = 0
    while index < subtree.count {
      subtree += children[subtree[index]] ?? []
      index += 1
    }
    return Set(subtree)
  }

  /// The roll-up of a subtree computed from this replica, offline — the same builder the
  /// server runs, over what this device last pulled (plus its own pending edits).
  public func rollUp(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date)
    throws -> Orgsync_V1_RollUp
  {
    var builder = try rollUpBuilder(root: root, year: year, period: period, today: today)
    return builder.build()
  }

  /// The roll-up and whom its counts name (cadres, problems, promises: see `RollUpBuilder.Named`).
  public func namedRollUp(
    root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date,
    lifeStandard: LifeStandard = .standard
  ) throws -> (Orgsync_V1_RollUp, RollUpBuilder.Named) {
    var builder = try rollUpBuilder(root: root, year: year, period: period, today: today)
    builder.lifeStandard = lifeStandard
    let rollUp = builder.build()
    return (rollUp, builder.named())
  }

  /// Reads the units, then the records in two halves on two readers at once (a village PC has
  /// two cores; opening the sealed bodies is most of the time), merging the halves' counts.
  func rollUpBuilder(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date)
    throws -> RollUpBuilder
  {
    var builder = RollUpBuilder(root: root, year: year, period: period, today: today)
    try writer.read { db in
      let rows = try Row.fetchCursor(db, sql: "SELECT id, body FROM records WHERE type = 1")
      while let row = try rows.next() {
        let body = try RecordKinds.body(type: .orgUnit, bytes: unsealed(row[1]))
        builder.addUnit(id: [UInt8](row[0] as Data), unit: body.orgUnit)
      }
    }
    let halves = ["substr(id, 16, 1) < x'80'", "substr(id, 16, 1) >= x'80'"]
    let base = builder
    let parts = Mutex<[Result<RollUpBuilder, any Error>]>([])
    DispatchQueue.concurrentPerform(iterations: halves.count) { index in
      let result = Result {
        var part = base
        try writer.read { db in
          // Straight from SQLite's column memory: ids and units are not copied, each body
          // once (to open it).
          let statement = try db.makeStatement(
            sql: "SELECT type, id, unit_id, body FROM records WHERE type IN (\(RollUpBuilder.recordTypesSQL)) AND "
              + halves[index])
          let sqlite = statement.sqliteStatement
          func column(_ index: Int32) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(
              start: sqlite3_column_blob(sqlite, index), count: Int(sqlite3_column_bytes(sqlite, index)))
          }
          while true {
            let step = sqlite3_step(sqlite)
            guard step == SQLITE_ROW else {
              if step != SQLITE_DONE { throw DatabaseError(resultCode: ResultCode(rawValue: step)) }
              break
            }
            let type = Orgsync_V1_RecordType(rawValue: Int(sqlite3_column_int(sqlite, 0))) ?? .unspecified
            let body = column(3)
            let opened = try unsealed(
              Data(bytes: body.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, count: body.count))
            opened.withUnsafeBytes { part.add(type: type, id: column(1), unitID: column(2), bytes: $0) }
          }
        }
        return part
      }
      parts.withLock { $0.append(result) }
    }
    var merged = try parts.withLock { $0 }.first!.get()
    for other in try parts.withLock({ $0 }).dropFirst() { merged.merge(try other.get()) }
    return merged
  }
}

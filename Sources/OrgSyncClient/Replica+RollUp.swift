import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

extension Replica {
  /// The roll-up of a subtree computed from this replica, offline — the same builder the
  /// server runs, over what this device last pulled (plus its own pending edits).
  public func rollUp(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date)
    throws -> Orgsync_V1_RollUp
  {
    var builder = try rollUpBuilder(root: root, year: year, period: period, today: today)
    return builder.build()
  }

  /// The roll-up and whom its counts name (cadres, problems, promises: see `RollUpBuilder.Named`).
  public func namedRollUp(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date)
    throws -> (Orgsync_V1_RollUp, RollUpBuilder.Named)
  {
    var builder = try rollUpBuilder(root: root, year: year, period: period, today: today)
    let rollUp = builder.build()
    return (rollUp, builder.named())
  }

  func rollUpBuilder(root: [UInt8], year: Int32, period: Orgsync_V1_ReportPeriod, today: Orgsync_V1_Date)
    throws -> RollUpBuilder
  {
    try writer.read { db in
      var builder = RollUpBuilder(root: root, year: year, period: period, today: today)
      let rows = try Row.fetchCursor(
        db,
        sql: """
          SELECT type, id, unit_id, body FROM records WHERE type IN (1, 2, 3, 4, 7, 8, 10, 11, 12, 13)
          ORDER BY type = 1 DESC
          """)
      while let row = try rows.next() {
        let type = Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified
        let id = [UInt8](row[1] as Data)
        let bytes = try unsealed(row[3])
        if type == .orgUnit {
          builder.addUnit(id: id, unit: try RecordKinds.body(type: type, bytes: bytes).orgUnit)
        } else {
          builder.add(type: type, id: id, unitID: [UInt8](row[2] as Data), bytes: bytes)
        }
      }
      return builder
    }
  }
}

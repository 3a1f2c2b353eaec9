import Foundation
import GRDB
import GRDBSQLite
import OrgSyncCore
import OrgSyncProto

extension SQLiteStore {
  /// The roll-up of a subtree (DOMAIN.md): `RollUpBuilder` fed straight from the database.
  public func rollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp {
    let rootID = request.unitID.isEmpty ? actor.unitID : Array(request.unitID)
    let today = CalendarDate.today(now: clock())
    return try await writer.read { db in
      let tree = Tree(db: db)
      guard let root = try tree.unit(id: rootID), let mine = try tree.unit(id: actor.unitID),
        root.path.hasPrefix(mine.path)
      else {
        throw StoreError(.permissionDenied, "this unit is not in the device's subtree")
      }
      var builder = RollUpBuilder(root: rootID, year: request.year, period: request.period, today: today)
      let (low, high) = root.subtreeRange
      // Units first (the builder places every record under a child of the root), then the rest.
      for row in try Row.fetchAll(
        db,
        sql: """
          SELECT r.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
          WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type = 1
          """, arguments: [low, high])
      {
        builder.addUnit(
          id: [UInt8](row[0] as Data),
          unit: try RecordKinds.body(type: .orgUnit, bytes: [UInt8](row[1] as Data)).orgUnit)
      }
      // The bulk of a roll-up: read each body straight from SQLite's column memory (no row
      // objects, no copies) into the builder.
      let statement = try db.makeStatement(
        sql: """
          SELECT r.type, r.id, u.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
          WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type IN (2, 3, 4, 7, 8, 10, 11, 12, 13)
          """)
      try statement.setArguments([low, high])
      let sqlite = statement.sqliteStatement
      defer { sqlite3_reset(sqlite) }
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
        builder.add(type: type, id: column(1), unitID: column(2), bytes: column(3))
      }
      return builder.build()
    }
  }
}

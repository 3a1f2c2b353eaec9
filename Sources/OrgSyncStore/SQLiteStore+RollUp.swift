import Foundation
import GRDB
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
      let rows = try Row.fetchCursor(
        db,
        sql: """
          SELECT r.type, r.id, u.id, r.body FROM records r JOIN units u ON u.num = r.unit_num
          WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type IN (1, 2, 3, 4, 7, 8, 10, 11, 12, 13)
          ORDER BY r.type = 1 DESC
          """, arguments: [low, high])
      while let row = try rows.next() {
        let type = Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified
        let id = [UInt8](row[1] as Data)
        let body = try RecordKinds.body(type: type, bytes: [UInt8](row[3] as Data))
        if type == .orgUnit {
          builder.addUnit(id: id, unit: body.orgUnit)
        } else {
          builder.add(type: type, id: id, unitID: [UInt8](row[2] as Data), body: body)
        }
      }
      return builder.build()
    }
  }
}

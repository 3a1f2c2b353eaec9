import Foundation
import OrgSyncCore
import OrgSyncProto

extension SQLRecordStore {
  /// Clears the personal fields (`PersonalData.purgedWhenDeleted`) of member records deleted
  /// before `cutoff` (milliseconds since 1970), in the stored record and in any conflict about
  /// it. What is kept — gender, education, status and the development dates — still counts in
  /// statistics; who the person was does not outlive the retention period. The record keeps its
  /// version: nothing is sent to devices (they drop a deleted record's body when the delete
  /// arrives). Returns how many records were purged.
  ///
  /// Works in short write transactions of `batch` records each, so that pushes never wait
  /// behind a long purge, and a stop between two batches leaves nothing half done.
  public func purgeDeletedPersonalData(before cutoff: Int64, batch: Int = 200) async throws -> Int {
    var purged = 0
    var after = Data()
    while true {
      let start = after
      let (count, last) = try await engine.write { db -> (Int, Data?) in
        let rows = try db.fetchAll(
          """
          SELECT r.id, r.body FROM records r JOIN changes c ON c.seq = r.seq
            WHERE r.type = ? AND r.deleted = 1 AND c.at < ? AND r.id > ? ORDER BY r.id LIMIT ?
          """, [Orgsync_V1_RecordType.member.rawValue, cutoff, start, batch])
        var purged = 0
        for row in rows {
          let id: Data = row[0]
          let bytes: Data = row[1]
          var body = try RecordKinds.body(type: .member, bytes: Array(bytes))
          guard PersonalData.purge(&body, type: .member) else { continue }
          try db.execute("UPDATE records SET body = ? WHERE id = ?", [Data(RecordKinds.bytes(of: body)), id])
          for conflictRow in try db.fetchAll("SELECT id, body FROM conflicts WHERE record_id = ?", [id]) {
            var conflict = try Orgsync_V1_Conflict(serializedBytes: [UInt8]((conflictRow[1] as Data)))
            _ = PersonalData.purge(&conflict.winner, type: .member)
            _ = PersonalData.purge(&conflict.loser, type: .member)
            try db.execute(
              "UPDATE conflicts SET body = ? WHERE id = ?",
              [Data(try conflict.serializedBytes() as [UInt8]), conflictRow[0] as Data])
          }
          purged += 1
        }
        return (purged, rows.count < batch ? nil : rows.last.map { $0[0] as Data })
      }
      purged += count
      guard let last else { return purged }
      after = last
    }
  }
}

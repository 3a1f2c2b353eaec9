import Foundation
import OrgSyncCore
import OrgSyncProto

/// The change log and its scope indexes, as one mutation writes them.
extension MutationApplier {
  /// After a subtree moved: every record in it changes scope. Each gets a new change (so the
  /// old ancestors see it leave and the new ones see it arrive), and replicas inside the
  /// subtree are told to start over (`moved_seq`), since their chain of ancestors changed.
  func reindexSubtree(of unit: UnitRow) throws {
    cache.records.removeAll()
    let (low, high) = unit.subtreeRange
    let rows = try db.fetchAll(
      """
      SELECT r.id, r.type, r.version, r.unit_num, u.path, r.audience_num FROM records r
      JOIN units u ON u.num = r.unit_num WHERE u.path >= ? AND u.path < ?
      """, [low, high])
    var lastSeq: Int64 = 0
    for row in rows {
      let id = [UInt8](row[0] as Data)
      let unitNum: Int64 = row[3]
      let seq = try logChange(
        recordID: id, type: Orgsync_V1_RecordType(rawValue: row[1]) ?? .unspecified, version: row[2],
        oldUnit: unitNum, newUnit: unitNum, mutationID: nil)
      try db.execute("UPDATE records SET seq = ? WHERE id = ?", [seq, Data(id)])
      // Old ancestors keep their index rows; bumping them to the new seq makes them see the exit.
      try db.execute("UPDATE scope_index SET seq = ? WHERE record_id = ?", [seq, Data(id)])
      try index(recordID: id, seq: seq, scopes: Set(UnitRow.nums(row[4])), audiences: [])
      if let audience: Int64 = row[5] {
        try index(recordID: id, seq: seq, scopes: [], audiences: [audience])
      }
      lastSeq = seq
    }
    try db.execute(
      "UPDATE units SET moved_seq = ? WHERE path >= ? AND path < ?",
      [lastSeq, unit.path, String(unit.path.dropLast()) + "0"])
  }

  func logChange(
    recordID: [UInt8], type: Orgsync_V1_RecordType, version: Int64, oldUnit: Int64?, newUnit: Int64,
    mutationID: [UInt8]?
  ) throws -> Int64 {
    let seq = try db.nextChangeSeq()
    try db.execute(
      """
      INSERT INTO changes (seq, record_id, type, version, old_unit_num, new_unit_num, mutation_id, device_id, at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      """,
      [
        seq, Data(recordID), type.rawValue, version, oldUnit, newUnit, mutationID.map { Data($0) },
        Data(actor.deviceID), now,
      ])
    return seq
  }

  func index(recordID: [UInt8], seq: Int64, scopes: Set<Int64>, audiences: Set<Int64>) throws {
    for num in scopes {
      try db.execute(
        """
        INSERT INTO scope_index (scope_num, record_id, seq) VALUES (?, ?, ?)
        ON CONFLICT (scope_num, record_id) DO UPDATE SET seq = excluded.seq
        """, [num, Data(recordID), seq])
    }
    for num in audiences {
      try db.execute(
        """
        INSERT INTO down_index (audience_num, record_id, seq) VALUES (?, ?, ?)
        ON CONFLICT (audience_num, record_id) DO UPDATE SET seq = excluded.seq
        """, [num, Data(recordID), seq])
    }
  }

  func audit(_ m: Orgsync_V1_Mutation, action: String, fields: Set<String>) throws {
    try db.execute(
      """
      INSERT INTO audit (at, device_id, record_id, type, action, fields, mutation_id) VALUES (?, ?, ?, ?, ?, ?, ?)
      """,
      [
        now, Data(actor.deviceID), m.recordID, m.type.rawValue, action, fields.sorted().joined(separator: ","),
        m.mutationID,
      ])
  }
}

import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

extension Replica {
  /// The oldest queued mutations, in order.
  func outboxBatch(limit: Int) throws -> [Orgsync_V1_Mutation] {
    try writer.read { db in
      try Data.fetchAll(db, sql: "SELECT mutation FROM outbox ORDER BY seq LIMIT ?", arguments: [limit])
        .map { try Orgsync_V1_Mutation(serializedBytes: $0) }
    }
  }

  /// Records the server's answer to a push, in one transaction: accepted mutations leave the
  /// outbox; rejected ones move to `rejected` (with their reason) and their records are rebased
  /// so the refused edit no longer shows. Returns the records whose result was a conflict.
  func applyPushResults(_ results: [Orgsync_V1_MutationResult], sent: [Orgsync_V1_Mutation], now: Int64) throws
    -> (accepted: Int, rejected: Int, conflicted: [[UInt8]])
  {
    let byID = Dictionary(sent.map { ($0.mutationID, $0) }, uniquingKeysWith: { a, _ in a })
    return try writer.write { db in
      var accepted = 0
      var rejected = 0
      var conflicted: [[UInt8]] = []
      for result in results {
        guard let m = byID[result.mutationID] else { continue }
        try db.execute(sql: "DELETE FROM outbox WHERE mutation_id = ?", arguments: [m.mutationID])
        switch result.outcome {
        case .rejected:
          rejected += 1
          try db.execute(
            sql: """
              INSERT OR REPLACE INTO rejected (mutation_id, record_id, type, code, field, reason, mutation, at)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?)
              """,
            arguments: [
              m.mutationID, m.recordID, m.type.rawValue, result.rejectCode.rawValue, result.field, result.reason,
              try m.serializedBytes() as Data, now,
            ])
          try rebase([UInt8](m.recordID), db)
        case .conflict:
          accepted += 1
          conflicted.append([UInt8](m.recordID))
        default:
          accepted += 1
        }
        try db.execute(
          sql: "UPDATE records SET pending = EXISTS (SELECT 1 FROM outbox WHERE record_id = ?) WHERE id = ?",
          arguments: [m.recordID, m.recordID])
      }
      return (accepted, rejected, conflicted)
    }
  }

  /// Applies one pull page and its cursor atomically. A page with `reset` first drops the
  /// server copy (the device's unit moved in the tree), keeping only pending local edits.
  func apply(page: Orgsync_V1_PullPage) throws {
    try writer.write { db in
      if page.reset {
        try db.execute(sql: "DELETE FROM server_records")
        try db.execute(sql: "DELETE FROM records WHERE id NOT IN (SELECT record_id FROM outbox)")
        for id in try Data.fetchAll(db, sql: "SELECT DISTINCT record_id FROM outbox") { try rebase([UInt8](id), db) }
      }
      var highest = UInt64(bitPattern: try state("hlc", db) ?? 0)
      for change in page.changes {
        let id = [UInt8](change.record.id)
        if change.kind == .scopeExit || change.record.deleted {
          try db.cachedStatement(sql: "DELETE FROM server_records WHERE id = ?").execute(arguments: [Data(id)])
        } else {
          try upsertServerRecord(change.record, db)
          highest = max(highest, change.record.hlc)
        }
        try rebase(id, db)
      }
      clock.observe(highest)
      try setState("hlc", Int64(bitPattern: clock.now()), db)
      try setState("cursor", page.cursor, db)
      if page.conflictsIncluded { try store(conflicts: page.openConflicts, complete: true, db) }
    }
  }

  func upsertServerRecord(_ record: Orgsync_V1_Record, _ db: Database) throws {
    try db.cachedStatement(
      sql: """
        INSERT INTO server_records (id, type, unit_id, version, hlc, body) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, unit_id = excluded.unit_id, version = excluded.version,
          hlc = excluded.hlc, body = excluded.body WHERE excluded.version >= server_records.version
          OR excluded.unit_id != server_records.unit_id
        """
    ).execute(arguments: [
      record.id, record.type.rawValue, record.unitID, record.version, Int64(bitPattern: record.hlc),
      Data(RecordKinds.bytes(of: record.body)),
    ])
  }

  /// Replaces the server copy of some records (repair, conflicts) and drops others.
  func repair(upserting records: [Orgsync_V1_Record], removing ids: [[UInt8]]) throws {
    try writer.write { db in
      for record in records {
        try db.execute(sql: "DELETE FROM server_records WHERE id = ?", arguments: [record.id])
        try upsertServerRecord(record, db)
        try rebase([UInt8](record.id), db)
      }
      for id in ids {
        try db.execute(sql: "DELETE FROM server_records WHERE id = ?", arguments: [Data(id)])
        try rebase(id, db)
      }
    }
  }

  /// Count and hash per type of the server copy, as the server computes its digest.
  func localDigest() throws -> [Orgsync_V1_RecordType: DigestAccumulator] {
    try writer.read { db in
      var digests: [Orgsync_V1_RecordType: DigestAccumulator] = [:]
      let rows = try Row.fetchCursor(db, sql: "SELECT type, id, version FROM server_records")
      while let row = try rows.next() {
        let type = Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified
        digests[type, default: DigestAccumulator()].add(id: [UInt8](row[1] as Data), version: row[2])
      }
      return digests
    }
  }

  func serverVersions(type: Orgsync_V1_RecordType) throws -> [Data: Int64] {
    try writer.read { db in
      var versions: [Data: Int64] = [:]
      for row in try Row.fetchAll(
        db, sql: "SELECT id, version FROM server_records WHERE type = ?", arguments: [type.rawValue])
      {
        versions[row[0]] = row[1]
      }
      return versions
    }
  }

  // MARK: Conflict inbox

  /// Saves conflicts from the server. `complete`: these are all the open ones, so any other
  /// open here was resolved elsewhere (by another device of the unit or its committee).
  func store(conflicts: [Orgsync_V1_Conflict], complete: Bool = false) throws {
    try writer.write { db in try store(conflicts: conflicts, complete: complete, db) }
  }

  func store(conflicts: [Orgsync_V1_Conflict], complete: Bool, _ db: Database) throws {
    if complete {
      let open = conflicts.filter { $0.status == .open }.map(\.id)
      try db.execute(
        sql: """
          UPDATE conflicts SET status = 2 WHERE status = 1
          AND id NOT IN (\(open.map { _ in "?" }.joined(separator: ",")))
          """, arguments: StatementArguments(open))
    }
    for conflict in conflicts {
      try db.execute(
        sql: """
          INSERT INTO conflicts (id, record_id, status, body) VALUES (?, ?, ?, ?)
          ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body
          """,
        arguments: [conflict.id, conflict.recordID, conflict.status.rawValue, try conflict.serializedBytes() as Data])
    }
  }

  /// Conflicts in this replica's inbox, open ones first.
  public func conflicts(includeResolved: Bool = false) throws -> [Orgsync_V1_Conflict] {
    try writer.read { db in
      try Data.fetchAll(
        db, sql: "SELECT body FROM conflicts WHERE status = 1 OR ? ORDER BY status, id", arguments: [includeResolved]
      ).map { try Orgsync_V1_Conflict(serializedBytes: $0) }
    }
  }

  /// How to settle a conflict.
  public enum Resolution: Sendable {
    /// Put back the losing value (this device's, usually).
    case keepMine
    /// Accept the value the server kept.
    case keepTheirs
    /// Set the fields to new values.
    case edit(Orgsync_V1_RecordBody)
  }

  /// Resolves a conflict by a new mutation (queued like any edit); the server is told on the
  /// next sync, once that mutation is accepted.
  @discardableResult
  public func resolve(conflictID: [UInt8], _ resolution: Resolution) throws -> Orgsync_V1_Mutation? {
    guard let conflict = try conflicts(includeResolved: false).first(where: { $0.id == Data(conflictID) }) else {
      throw ReplicaError("there is no open conflict with this id")
    }
    var mutation: Orgsync_V1_Mutation?
    switch resolution {
    case .keepTheirs:
      mutation = nil
    case .keepMine:
      mutation = try update([UInt8](conflict.recordID), fields: conflict.fields, from: conflict.loser)
    case .edit(let body):
      mutation = try update([UInt8](conflict.recordID), fields: conflict.fields, from: body)
    }
    try writer.write { db in
      try db.execute(
        sql: "UPDATE conflicts SET resolution_mutation_id = ? WHERE id = ?",
        arguments: [mutation?.mutationID ?? conflict.winnerMutationID, Data(conflictID)])
    }
    return mutation
  }

  /// Conflicts resolved locally whose resolution the server has not been told of.
  func pendingResolutions() throws -> [(conflict: [UInt8], mutation: [UInt8])] {
    try writer.read { db in
      try Row.fetchAll(
        db,
        sql: """
          SELECT id, resolution_mutation_id FROM conflicts WHERE status = 1 AND resolution_mutation_id IS NOT NULL
          AND resolution_mutation_id NOT IN (SELECT mutation_id FROM outbox)
          """
      ).map { ([UInt8]($0[0] as Data), [UInt8]($0[1] as Data)) }
    }
  }
}

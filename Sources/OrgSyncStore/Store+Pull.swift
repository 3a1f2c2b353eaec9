import Crypto
import Foundation
import OrgSyncCore
import OrgSyncProto

extension SQLRecordStore {
  public func pull(actor: Actor, cursor: [UInt8], pageSize: Int) async throws -> Orgsync_V1_PullPage {
    let requested = try LogPosition.decode(cursor)
    let limit = min(max(pageSize, 1), 5000)
    return try await engine.read { db in
      var page = Orgsync_V1_PullPage()
      guard try Self.holds(requested, db) else {
        page.historyChanged = true  // the replica's copy came from a log this one lacks
        return page
      }
      var after = requested?.seq ?? 0
      let history = try Self.currentHistory(db)
      let tree = Tree(db: db)
      guard let unit = try tree.unit(id: actor.unitID) else {
        throw StoreError(.notFound, "the device's unit no longer exists")
      }
      if after > 0, unit.movedSeq > after {
        page.reset = true  // the unit moved in the tree: its scope is not what the replica holds
        after = 0
      }
      let ancestors = unit.ancestorsOrSelf
      // Never past a change that may still commit (the cursor rule; SQLite: no limit).
      let horizon = try db.pullHorizon()
      let rows = try db.fetchAll(
        """
        SELECT record_id, seq FROM scope_index WHERE scope_num = ? AND seq > ? AND seq <= ?
        UNION ALL
        SELECT record_id, seq FROM down_index
          WHERE audience_num IN (\(placeholders(ancestors.count))) AND seq > ? AND seq <= ?
        ORDER BY seq LIMIT ?
        """, [unit.num, after, horizon] + ancestors + [after, horizon, limit])
      var latest: [Data: Int64] = [:]
      var maxSeq = after
      for row in rows {
        let id: Data = row[0]
        let seq: Int64 = row[1]
        latest[id] = max(latest[id] ?? 0, seq)
        maxSeq = max(maxSeq, seq)
      }
      let records = try StoredRecord.fetchAll(db, ids: Array(latest.keys))
      let ancestorSet = Set(ancestors)
      for (id, _) in latest.sorted(by: { $0.value < $1.value }) {
        guard let stored = records[id] else { continue }
        var change = Orgsync_V1_Change()
        if stored.unitPath.hasPrefix(unit.path) {
          change.kind = .upsert
          change.record = try stored.envelope()
        } else if let audience = stored.audienceNum, ancestorSet.contains(audience) {
          change.kind = .upsert
          change.record = try stored.envelope()
          if stored.type == .orgUnit {  // an ancestor: its name and code, not its people
            change.record.body.orgUnit.secretary = ""
            change.record.body.orgUnit.phone = ""
          }
        } else {
          change.kind = .scopeExit
          change.record.id = id
          change.record.type = stored.type
        }
        page.changes.append(change)
      }
      page.cursor = Data(LogPosition(history: history, seq: maxSeq).bytes)
      page.more = rows.count == limit
      return page
    }
  }

  /// How many changes a pull from `cursor` has ahead of it (for progress).
  public func pendingChanges(actor: Actor, cursor: [UInt8]) async throws -> Int {
    let after = try LogPosition.decode(cursor)?.seq ?? 0
    return try await engine.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else { return 0 }
      let ancestors = unit.ancestorsOrSelf
      let from = unit.movedSeq > after && after > 0 ? 0 : after
      return try
        (db.scalar(
          """
          SELECT (SELECT count(*) FROM scope_index WHERE scope_num = ? AND seq > ?)
               + (SELECT count(*) FROM down_index WHERE audience_num IN (\(placeholders(ancestors.count)))
                  AND seq > ?)
          """, [unit.num, from] + ancestors + [from]) as Int?) ?? 0
    }
  }

  public func digest(actor: Actor, types: [Orgsync_V1_RecordType]) async throws -> Orgsync_V1_ScopeDigest {
    try await engine.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else {
        throw StoreError(.notFound, "the device's unit no longer exists")
      }
      let ancestors = unit.ancestorsOrSelf
      let (low, high) = unit.subtreeRange
      let rows = try db.fetchAll(
        """
        SELECT r.type, r.id, r.version FROM records r JOIN units u ON u.num = r.unit_num
          WHERE u.path >= ? AND u.path < ? AND r.deleted = 0
        UNION
        SELECT r.type, r.id, r.version FROM records r
          WHERE r.audience_num IN (\(placeholders(ancestors.count))) AND r.deleted = 0
        """, [low, high] + ancestors)
      var digests: [Orgsync_V1_RecordType: DigestAccumulator] = [:]
      let wanted = Set(types)
      for row in rows {
        let type = Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified
        guard wanted.isEmpty || wanted.contains(type) else { continue }
        digests[type, default: DigestAccumulator()].add(id: [UInt8](row[1] as Data), version: row[2])
      }
      var digest = Orgsync_V1_ScopeDigest()
      digest.types = digests.keys.sorted { $0.rawValue < $1.rawValue }.map { digests[$0]!.message(type: $0) }
      digest.cursor = Data(try Self.position(db).bytes)
      return digest
    }
  }

  public func record(id: [UInt8], actor: Actor) async throws -> Orgsync_V1_Record? {
    try await records(ids: [id], actor: actor).first
  }

  public func records(ids: [[UInt8]], actor: Actor) async throws -> [Orgsync_V1_Record] {
    try await engine.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else { return [] }
      let ancestors = Set(unit.ancestorsOrSelf)
      let found = try StoredRecord.fetchAll(db, ids: ids.map { Data($0) })
      return try ids.compactMap { id in
        guard let stored = found[Data(id)] else { return nil }
        let visible = stored.unitPath.hasPrefix(unit.path) || stored.audienceNum.map(ancestors.contains) == true
        return visible ? try stored.envelope() : nil
      }
    }
  }

  public func versions(actor: Actor, type: Orgsync_V1_RecordType) async throws -> [(id: [UInt8], version: Int64)] {
    try await engine.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else { return [] }
      let ancestors = unit.ancestorsOrSelf
      let (low, high) = unit.subtreeRange
      return try db.fetchAll(
        """
        SELECT r.id, r.version FROM records r JOIN units u ON u.num = r.unit_num
          WHERE u.path >= ? AND u.path < ? AND r.deleted = 0 AND r.type = ?
        UNION
        SELECT r.id, r.version FROM records r
          WHERE r.audience_num IN (\(placeholders(ancestors.count))) AND r.deleted = 0 AND r.type = ?
        ORDER BY 1
        """,
        [low, high, type.rawValue] as [any SQLBindable] + ancestors + [type.rawValue]
      ).map { ([UInt8]($0[0] as Data), $0[1]) }
    }
  }
}

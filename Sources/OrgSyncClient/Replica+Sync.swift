import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

extension Replica {
  /// The oldest queued mutations, in order.
  func outboxBatch(limit: Int) throws -> [Orgsync_V1_Mutation] {
    try writer.read { db in
      try Data.fetchAll(db, sql: "SELECT mutation FROM outbox ORDER BY seq LIMIT ?", arguments: [limit])
        .map { try unsealedMutation($0) }
    }
  }

  /// Records the server's answer to a push, in one transaction: accepted mutations leave the
  /// outbox; rejected ones move to `rejected` (with their reason) and their records are rebased
  /// so the refused edit no longer shows. Returns the records whose result was a conflict.
  func applyPushResults(
    _ results: [Orgsync_V1_MutationResult], sent: [Orgsync_V1_Mutation], position: Data, now: Int64
  ) throws -> (accepted: Int, rejected: Int, conflicted: [[UInt8]]) {
    let byID = Dictionary(sent.map { ($0.mutationID, $0) }, uniquingKeysWith: { a, _ in a })
    return try writer.write { db in
      if !position.isEmpty { try setState("push_position", position, db) }
      var accepted = 0
      var rejected = 0
      var conflicted: [[UInt8]] = []
      for result in results {
        guard let m = byID[result.mutationID] else { continue }
        try db.execute(sql: "DELETE FROM outbox WHERE mutation_id = ?", arguments: [m.mutationID])
        switch result.outcome {
        case .rejected:
          rejected += 1
          try keepRefused(m, result, reason: result.reason, now: now, db)
          try rebase([UInt8](m.recordID), db)
        case .conflict:
          accepted += 1
          conflicted.append([UInt8](m.recordID))
          try keepSent(m, now: now, db)
        default:
          accepted += 1
          try keepSent(m, now: now, db)
        }
        try db.execute(
          sql: "UPDATE records SET pending = EXISTS (SELECT 1 FROM outbox WHERE record_id = ?) WHERE id = ?",
          arguments: [m.recordID, m.recordID])
      }
      return (accepted, rejected, conflicted)
    }
  }

  /// A refused mutation, kept with its typed values and the server's reason.
  func keepRefused(
    _ m: Orgsync_V1_Mutation, _ result: Orgsync_V1_MutationResult, reason: String, now: Int64, _ db: Database
  ) throws {
    try db.execute(
      sql: """
        INSERT OR REPLACE INTO rejected (mutation_id, record_id, type, code, field, reason, mutation, at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """,
      arguments: [
        m.mutationID, m.recordID, m.type.rawValue, result.rejectCode.rawValue, result.field, reason,
        try sealed(m), now,
      ])
  }

  /// An accepted mutation, kept to be offered again should the server lose it.
  func keepSent(_ m: Orgsync_V1_Mutation, now: Int64, _ db: Database) throws {
    try db.cachedStatement(
      sql: "INSERT OR IGNORE INTO sent (mutation_id, record_id, mutation, at) VALUES (?, ?, ?, ?)"
    ).execute(arguments: [m.mutationID, m.recordID, try sealed(m), now])
  }

  /// Server positions this replica has seen (its cursor, its last push answer).
  func knownPositions() throws -> [Data] {
    try writer.read { db in
      [try state("cursor", db) as Data?, try state("push_position", db) as Data?].compactMap { $0 }.filter {
        !$0.isEmpty
      }
    }
  }

  // MARK: Healing after the server lost history (docs/ARCHITECTURE.md, "History and healing")

  /// Whether a heal has begun and not finished (it resumes on the next sync).
  public func isHealing() throws -> Bool {
    try writer.read { db in try state("healing", db) ?? false }
  }

  /// Begins healing, once: keeps the server copy aside, forgets the positions of the lost
  /// history, so that the next pull starts from the beginning. The local view is left as it is
  /// until the pull has finished.
  func beginHeal() throws {
    try writer.write { db in
      if try state("healing", db) ?? false { return }
      try setState("healing", true, db)
      try db.execute(sql: "DELETE FROM heal_snapshot")
      try db.execute(
        sql: "INSERT INTO heal_snapshot (id, type, unit_id, version, hlc, body) SELECT * FROM server_records")
      try db.execute(sql: "DELETE FROM server_records")
      try setState("cursor", nil, db)
      try setState("push_position", nil, db)
    }
  }

  /// Accepted mutations in the order they were made, after `seq`.
  func sentBatch(after seq: Int64, limit: Int) throws -> [(seq: Int64, mutation: Orgsync_V1_Mutation)] {
    try writer.read { db in
      try Row.fetchAll(
        db, sql: "SELECT seq, mutation FROM sent WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]
      ).map { ($0[0], try unsealedMutation($0[1])) }
    }
  }

  /// Accepted mutations of some records (for verify's offer-back).
  func sentMutations(records ids: [[UInt8]]) throws -> [Orgsync_V1_Mutation] {
    try writer.read { db in
      var out: [(Int64, Orgsync_V1_Mutation)] = []
      for id in ids {
        for row in try Row.fetchAll(
          db, sql: "SELECT seq, mutation FROM sent WHERE record_id = ?", arguments: [Data(id)])
        {
          out.append((row[0], try unsealedMutation(row[1])))
        }
      }
      return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }

  /// Records the answer to offered-again mutations: refusals go to the rejected list with
  /// their values (nothing is dropped without a trace).
  func applyReplayResults(_ results: [Orgsync_V1_MutationResult], sent: [Orgsync_V1_Mutation], now: Int64) throws
    -> (accepted: Int, rejected: Int)
  {
    let byID = Dictionary(sent.map { ($0.mutationID, $0) }, uniquingKeysWith: { a, _ in a })
    return try writer.write { db in
      var accepted = 0
      var rejected = 0
      for result in results {
        guard let m = byID[result.mutationID] else { continue }
        guard result.outcome == .rejected else {
          accepted += 1
          continue
        }
        rejected += 1
        try keepRefused(m, result, reason: "offered again after the server lost it: " + result.reason, now: now, db)
        try db.execute(sql: "DELETE FROM sent WHERE mutation_id = ?", arguments: [m.mutationID])
      }
      return (accepted, rejected)
    }
  }

  /// Ends a heal after the full pull: records of the old server copy that the server no
  /// longer has go to `held`; the local view is recomputed for them. Returns how many.
  func finishHeal(now: Int64) throws -> Int {
    try writer.write { db in
      guard try state("healing", db) ?? false else { return 0 }
      let lost = try Data.fetchAll(
        db, sql: "SELECT id FROM heal_snapshot WHERE id NOT IN (SELECT id FROM server_records)")
      try db.execute(
        sql: """
          INSERT OR REPLACE INTO held (id, type, unit_id, version, body, at)
          SELECT id, type, unit_id, version, body, ? FROM heal_snapshot
          WHERE id NOT IN (SELECT id FROM server_records)
          """, arguments: [now])
      for id in lost { try rebase([UInt8](id), db) }
      try db.execute(sql: "DELETE FROM heal_snapshot")
      try setState("healing", false, db)
      return lost.count
    }
  }

  /// Records this device kept because the server lost them and it could not write them back.
  public func heldCount() throws -> Int {
    try writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM held") ?? 0 }
  }

  /// The records kept aside because the server no longer has them, newest first.
  public func heldRecords() throws -> [LocalRecord] {
    try writer.read { db in
      try Row.fetchAll(db, sql: "SELECT id, type, unit_id, version, body FROM held ORDER BY at DESC").map { row in
        let type = Orgsync_V1_RecordType(rawValue: row[1]) ?? .unspecified
        return LocalRecord(
          id: [UInt8](row[0] as Data), type: type, unitID: [UInt8](row[2] as Data), version: row[3],
          body: try RecordKinds.body(type: type, bytes: unsealed(row[4])), pending: false)
      }
    }
  }

  /// Moves records of the server copy that the server no longer has to `held` (verify).
  func hold(_ ids: [[UInt8]], now: Int64) throws {
    try writer.write { db in
      for id in ids {
        try db.execute(
          sql: """
            INSERT OR REPLACE INTO held (id, type, unit_id, version, body, at)
            SELECT id, type, unit_id, version, body, ? FROM server_records WHERE id = ?
            """, arguments: [now, Data(id)])
        try db.execute(sql: "DELETE FROM server_records WHERE id = ?", arguments: [Data(id)])
        try rebase(id, db)
      }
    }
  }

  /// Applies one pull page and its cursor atomically. A page with `reset` first drops the
  /// server copy (the device's unit moved in the tree), keeping only pending local edits.
  func apply(page: Orgsync_V1_PullPage) throws {
    var authoritiesChanged = false
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
      // Over TLS only (a device with a trusted authority): the authorities to trust from now on.
      if !page.trustedAuthorities.isEmpty, let current: String = try state("tls_ca", db) {
        let announced = page.trustedAuthorities.map { Self.pem(certificate: [UInt8]($0)) }.joined()
        if announced != current {
          try setState("tls_ca", announced, db)
          authoritiesChanged = true
        }
      }
    }
    if authoritiesChanged { try saveIdentityCopy() }
  }

  func upsertServerRecord(_ record: Orgsync_V1_Record, _ db: Database) throws {
    // A record kept aside because the server had lost it is back: nothing to keep any more.
    try db.cachedStatement(sql: "DELETE FROM held WHERE id = ?").execute(arguments: [record.id])
    try db.cachedStatement(
      sql: """
        INSERT INTO server_records (id, type, unit_id, version, hlc, body) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, unit_id = excluded.unit_id, version = excluded.version,
          hlc = excluded.hlc, body = excluded.body WHERE excluded.version >= server_records.version
          OR excluded.unit_id != server_records.unit_id
        """
    ).execute(arguments: [
      record.id, record.type.rawValue, record.unitID, record.version, Int64(bitPattern: record.hlc),
      try sealed(RecordKinds.bytes(of: record.body)),
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
        arguments: [conflict.id, conflict.recordID, conflict.status.rawValue, try sealed(conflict.serializedBytes())])
    }
  }

  /// Conflicts in this replica's inbox, open ones first.
  public func conflicts(includeResolved: Bool = false) throws -> [Orgsync_V1_Conflict] {
    try writer.read { db in
      try Data.fetchAll(
        db, sql: "SELECT body FROM conflicts WHERE status = 1 OR ? ORDER BY status, id", arguments: [includeResolved]
      ).map { try Orgsync_V1_Conflict(serializedBytes: unsealed($0)) }
    }
  }

  /// Open conflicts already settled on this PC, waiting for the next sync to tell the server.
  public func conflictsSettledHere() throws -> Set<[UInt8]> {
    try writer.read { db in
      Set(
        try Data.fetchAll(
          db, sql: "SELECT id FROM conflicts WHERE status = 1 AND resolution_mutation_id IS NOT NULL"
        ).map { [UInt8]($0) })
    }
  }

  /// Which of a conflict's two values was typed on this PC, as the person there sees it.
  public enum ConflictSide: Sendable, Equatable {
    /// This PC's value is the one kept now.
    case typedHereKept
    /// This PC's value lost to one typed elsewhere.
    case typedHereLost
    /// Both were typed elsewhere (a committee looking at its branches' conflict).
    case elsewhere
  }

  /// Known from the mutation ids: this PC keeps what it sent (180 days), what waits to be sent
  /// and what was refused.
  public func side(of conflict: Orgsync_V1_Conflict) throws -> ConflictSide {
    let ours = { (id: Data) -> Bool in
      guard !id.isEmpty else { return false }
      return try self.writer.read { db in
        try Bool.fetchOne(
          db,
          sql: """
            SELECT EXISTS (SELECT 1 FROM sent WHERE mutation_id = ?1)
              OR EXISTS (SELECT 1 FROM outbox WHERE mutation_id = ?1)
              OR EXISTS (SELECT 1 FROM rejected WHERE mutation_id = ?1)
            """, arguments: [id]) ?? false
      }
    }
    if try ours(conflict.loserMutationID) { return .typedHereLost }
    if try ours(conflict.winnerMutationID) { return .typedHereKept }
    return .elsewhere
  }

  /// How to settle a conflict.
  public enum Resolution: Sendable {
    /// The value typed on this PC, whether it is the one kept now or the one that lost.
    case keepMine
    /// The value typed on the other PC.
    case keepTheirs
    /// The value the server keeps now.
    case keepKept
    /// The value that lost.
    case keepLost
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
    var choice = resolution
    switch (resolution, try side(of: conflict)) {
    case (.keepMine, .typedHereKept), (.keepTheirs, .typedHereLost): choice = .keepKept
    case (.keepMine, .typedHereLost), (.keepTheirs, .typedHereKept): choice = .keepLost
    case (.keepMine, .elsewhere), (.keepTheirs, .elsewhere):
      throw ReplicaError("neither value was typed on this PC: keep the value kept now, or the one that lost")
    default: break
    }
    var mutation: Orgsync_V1_Mutation?
    switch choice {
    case .keepKept, .keepMine, .keepTheirs:
      mutation = nil
    case .keepLost where conflict.kind == .moveVsEdit && !RecordKinds.bytes(of: conflict.loser).isEmpty:
      // An edit that was not applied because its author could not edit where the record went.
      mutation = try update([UInt8](conflict.recordID), fields: conflict.fields, from: conflict.loser)
    case _ where conflict.kind == .moveVsEdit:
      mutation = nil  // both changes stand; settling it says "seen" (move the record back to undo)
    case .keepLost where conflict.kind == .deleteVsEdit || conflict.kind == .editVsDelete:
      mutation = try delete([UInt8](conflict.recordID))  // the losing side was the delete
    case .keepLost:
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

extension Replica {
  /// A DER certificate as PEM.
  static func pem(certificate der: [UInt8]) -> String {
    let base64 = Data(der).base64EncodedString()
    var lines: [Substring] = []
    var rest = Substring(base64)
    while !rest.isEmpty {
      lines.append(rest.prefix(64))
      rest = rest.dropFirst(64)
    }
    return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
  }
}

extension Replica {
  /// Clears, once, the personal fields a committee device no longer receives (`PersonalData`)
  /// from records it pulled before the server withheld them. Pending local edits are laid over
  /// the cleared copy again, so nothing typed here is touched. Returns how many records changed.
  func dropWithheldPersonalData() throws -> Int {
    guard let identity = try identity(), identity.role == .committee else { return 0 }
    let actor = Actor(deviceID: identity.deviceID, unitID: identity.unitID, role: identity.role)
    return try writer.write { db in
      if let done: Int64 = try state("personal_policy", db), done >= 1 { return 0 }
      let types = PersonalData.withheldBelow.keys.map(\.rawValue)
      let rows = try Row.fetchAll(
        db,
        sql: """
          SELECT id, type, unit_id, body FROM server_records
            WHERE type IN (\(types.map { _ in "?" }.joined(separator: ","))) AND unit_id != ?
          """, arguments: StatementArguments(types + [Data(identity.unitID)]))
      var changed = 0
      for row in rows {
        var record = Orgsync_V1_Record()
        record.id = row[0]
        record.type = Orgsync_V1_RecordType(rawValue: row[1]) ?? .unspecified
        record.unitID = row[2]
        record.body = try RecordKinds.body(type: record.type, bytes: unsealed(row[3]))
        let before = record.body
        PersonalData.redact(&record, for: actor)
        guard record.body != before else { continue }
        try db.execute(
          sql: "UPDATE server_records SET body = ? WHERE id = ?",
          arguments: [try sealed(RecordKinds.bytes(of: record.body)), record.id])
        try rebase([UInt8](record.id), db)
        changed += 1
      }
      try setState("personal_policy", Int64(1), db)
      return changed
    }
  }
}

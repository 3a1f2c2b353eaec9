import Crypto
import Foundation
import OrgSyncCore
import OrgSyncProto

extension SQLRecordStore {
  /// Crockford's base32 without I, L, O, U: codes are read aloud and typed by hand.
  static var codeAlphabet: [Character] { Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ") }

  static func normalize(code: String) -> String {
    code.uppercased().filter { $0 != "-" && $0 != " " }
  }

  static func codeHash(_ code: String) -> Data {
    Data(SHA256.hash(data: Array(normalize(code: code).utf8)))
  }

  public func makeEnrollmentCode(unitID: [UInt8], role: Orgsync_V1_DeviceRole, validSeconds: Int64) async throws
    -> String
  {
    guard [.branch, .committee, .admin].contains(role) else {
      throw StoreError(.invalidArgument, "the role must be branch, committee or admin")
    }
    var generator = SystemRandomNumberGenerator()
    let raw = String((0..<12).map { _ in Self.codeAlphabet[Int.random(in: 0..<32, using: &generator)] })
    let code = [raw.prefix(4), raw.dropFirst(4).prefix(4), raw.suffix(4)].map(String.init).joined(separator: "-")
    let expires = nowMillis + validSeconds * 1000
    try await engine.write { db in
      guard try Tree(db: db).unit(id: unitID) != nil else { throw StoreError(.notFound, "there is no such unit") }
      try db.execute(
        "INSERT INTO enrollment_codes (code_hash, unit_id, role, expires_at) VALUES (?, ?, ?, ?)",
        [Self.codeHash(code), Data(unitID), role.rawValue, expires])
    }
    return code
  }

  public func enroll(code: String, deviceName: String) async throws -> Orgsync_V1_EnrollResponse {
    let name = deviceName.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !name.isEmpty, name.count <= 100 else {
      throw StoreError(.invalidArgument, "the device name must be 1 to 100 characters")
    }
    let now = nowMillis
    return try await engine.write { db in
      guard
        let row = try db.fetchOne(
          "SELECT unit_id, role, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?", [Self.codeHash(code)]),
        (row[3] as Int64?) == nil, (row[2] as Int64) > now
      else {
        throw StoreError(.unauthenticated, "the enrolment code is unknown, already used or expired")
      }
      let unitID = [UInt8](row[0] as Data)
      let role = Orgsync_V1_DeviceRole(rawValue: row[1]) ?? .unspecified
      let deviceID = RecordID.make()
      var generator = SystemRandomNumberGenerator()
      let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let storedKey = Array(SHA256.hash(data: secret))
      try db.execute(
        "INSERT INTO devices (id, unit_id, role, stored_key, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [Data(deviceID), Data(unitID), role.rawValue, Data(storedKey), name, now])
      try db.execute(
        "UPDATE enrollment_codes SET used_at = ?, device_id = ? WHERE code_hash = ?",
        [now, Data(deviceID), Self.codeHash(code)])
      var response = Orgsync_V1_EnrollResponse()
      response.deviceID = Data(deviceID)
      response.secret = Data(secret)
      response.unitID = Data(unitID)
      response.role = role
      if let unit = try StoredRecord.fetch(db, id: unitID),
        let body = try? RecordKinds.body(type: .orgUnit, bytes: unit.body)
      {
        response.unitName = body.orgUnit.name
        response.unitCode = body.orgUnit.code
      }
      return response
    }
  }

  public func device(id: [UInt8]) async throws -> DeviceInfo? {
    try await engine.read { db in
      try db.fetchOne("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", [Data(id)]).map(Self.deviceInfo)
    }
  }

  public func devices() async throws -> [DeviceInfo] {
    try await engine.read { db in
      try db.fetchAll("SELECT \(Self.deviceColumns) FROM devices ORDER BY created_at", []).map(Self.deviceInfo)
    }
  }

  static var deviceColumns: String {
    "id, unit_id, role, stored_key, name, created_at, revoked_at, last_seen_at"
  }

  static func deviceInfo(_ row: SQLRow) -> DeviceInfo {
    DeviceInfo(
      id: [UInt8](row[0] as Data), unitID: [UInt8](row[1] as Data),
      role: Orgsync_V1_DeviceRole(rawValue: row[2]) ?? .unspecified, name: row[4],
      storedKey: [UInt8](row[3] as Data), createdAt: row[5], revokedAt: row[6], lastSeenAt: row[7])
  }

  /// Notes that a device completed a call now (for `devices list`).
  public func noteSeen(deviceID: [UInt8], at millis: Int64) async throws {
    try await engine.write { db in
      try db.execute(
        "UPDATE devices SET last_seen_at = ? WHERE id = ? AND coalesce(last_seen_at, 0) < ?",
        [millis, Data(deviceID), millis])
    }
  }

  public func revokeDevice(id: [UInt8]) async throws {
    let now = nowMillis
    try await engine.write { db in
      let revoked = try db.fetchAll(
        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING id", [now, Data(id)])
      guard revoked.count == 1 else { throw StoreError(.notFound, "there is no such device") }
    }
  }

  public func unitName(id: [UInt8]) async throws -> (name: String, code: String)? {
    try await engine.read { db in
      guard let unit = try StoredRecord.fetch(db, id: id), unit.type == .orgUnit,
        let body = try? RecordKinds.body(type: .orgUnit, bytes: unit.body)
      else { return nil }
      return (body.orgUnit.name, body.orgUnit.code)
    }
  }

  // MARK: Conflicts and audit

  public func conflicts(actor: Actor, includeResolved: Bool, limit: Int, resolvedSince: Int64?) async throws
    -> [Orgsync_V1_Conflict]
  {
    try await engine.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else { return [] }
      let (low, high) = unit.subtreeRange
      return try
        (db.column(
          """
          SELECT c.body FROM conflicts c JOIN units u ON u.num = c.unit_num
          WHERE u.path >= ? AND u.path < ? AND (c.status = ? OR ? = 1 OR coalesce(c.resolved_at, 0) >= ?)
          ORDER BY c.status, c.id LIMIT ?
          """,
          [
            low, high, Orgsync_V1_ConflictStatus.open.rawValue, includeResolved, resolvedSince ?? Int64.max,
            max(1, min(limit, 10_000)),
          ]) as [Data]).map { try Orgsync_V1_Conflict(serializedBytes: $0) }
    }
  }

  public func resolveConflict(actor: Actor, id: [UInt8], byMutation: [UInt8]) async throws -> Orgsync_V1_Conflict {
    let now = nowMillis
    return try await engine.write { db in
      let tree = Tree(db: db)
      guard
        let row = try db.fetchOne("SELECT unit_num, body FROM conflicts WHERE id = ?", [Data(id)]),
        let unit = try tree.unit(num: row[0]), let actorUnit = try tree.unit(id: actor.unitID),
        unit.path.hasPrefix(actorUnit.path)
      else {
        throw StoreError(.notFound, "there is no such conflict in this device's scope")
      }
      guard
        try (db.scalar("SELECT id FROM mutations WHERE id = ?", [Data(byMutation)]) as Data?) != nil
      else {
        throw StoreError(.failedPrecondition, "push the resolving mutation before marking the conflict resolved")
      }
      var conflict = try Orgsync_V1_Conflict(serializedBytes: row[1] as Data)
      conflict.status = .resolved
      conflict.resolvedByMutationID = Data(byMutation)
      conflict.resolvedByUnitID = Data(actor.unitID)
      conflict.resolvedAt = now
      try db.execute(
        "UPDATE conflicts SET status = ?, body = ?, resolved_at = ? WHERE id = ?",
        [conflict.status.rawValue, try conflict.serializedBytes() as Data, now, Data(id)])
      return conflict
    }
  }

  public func audit(recordID: [UInt8]) async throws -> [AuditEntry] {
    try await engine.read { db in
      try db.fetchAll(
        "SELECT seq, at, device_id, record_id, type, action, fields FROM audit WHERE record_id = ? ORDER BY seq",
        [Data(recordID)]
      )
      .map { row in
        AuditEntry(
          seq: row[0], at: row[1], deviceID: [UInt8](row[2] as Data),
          recordID: [UInt8](row[3] as Data),
          type: Orgsync_V1_RecordType(rawValue: row[4]) ?? .unspecified, action: row[5],
          fields: (row[6] as String).split(separator: ",").map(String.init))
      }
    }
  }
}

extension SQLRecordStore {
  public func history(recordID: [UInt8], actor: Actor) async throws -> [Orgsync_V1_HistoryEntry] {
    // Visible now (the same rule as a fetch), or nothing: a device cannot probe for ids.
    guard try await !records(ids: [recordID], actor: actor).isEmpty else { return [] }
    return try await engine.read { db in
      try db.fetchAll(
        """
        SELECT a.at, a.action, a.fields, d.unit_id, d.name FROM audit a LEFT JOIN devices d ON d.id = a.device_id
        WHERE a.record_id = ? ORDER BY a.seq
        """, [Data(recordID)]
      ).map { row in
        var entry = Orgsync_V1_HistoryEntry()
        entry.atMillis = row[0]
        entry.action = row[1]
        entry.fields = (row[2] as String).split(separator: ",").map(String.init)
        entry.unitID = row[3] ?? Data()
        entry.deviceName = row[4] ?? ""
        return entry
      }
    }
  }
}

// MARK: Diagnostics (checks of exactly-once delivery)

extension SQLRecordStore {
  /// The stored result of a mutation, if the server has seen it.
  public func mutationResult(id: [UInt8]) async throws -> Orgsync_V1_MutationResult? {
    try await engine.read { db in
      try (db.scalar("SELECT result FROM mutations WHERE id = ?", [Data(id)]) as Data?)
        .map { try Orgsync_V1_MutationResult(serializedBytes: $0) }
    }
  }

  /// How many changes in the log a mutation made (0 or 1: never more).
  public func changeCount(mutationID: [UInt8]) async throws -> Int {
    try await engine.read { db in
      try (db.scalar("SELECT count(*) FROM changes WHERE mutation_id = ?", [Data(mutationID)]) as Int?)
        ?? 0
    }
  }

  /// Whether a conflict record exists.
  public func conflictExists(id: [UInt8]) async throws -> Bool {
    try await engine.read { db in
      try (db.scalar("SELECT 1 FROM conflicts WHERE id = ?", [Data(id)]) as Bool?) ?? false
    }
  }
}

extension SQLRecordStore {
  /// Every unit with its record, parents before children.
  public func units() async throws -> [(id: [UInt8], unit: Orgsync_V1_OrgUnit)] {
    try await engine.read { db in
      try db.fetchAll(
        """
        SELECT r.id, r.body FROM records r JOIN units u ON u.id = r.id
        WHERE r.type = 1 AND r.deleted = 0 ORDER BY length(u.path), u.path
        """, []
      ).map { row in
        ([UInt8](row[0] as Data), try RecordKinds.body(type: .orgUnit, bytes: [UInt8](row[1] as Data)).orgUnit)
      }
    }
  }

  /// A unit's id by its code (the indexed column transfers use too; no scan of every unit).
  public func unitID(code: String) async throws -> [UInt8]? {
    try await engine.read { db in try Tree(db: db).unitID(code: code) }
  }
}

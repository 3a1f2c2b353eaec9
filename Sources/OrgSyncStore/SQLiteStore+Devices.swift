import Crypto
import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

extension SQLiteStore {
  /// Crockford's base32 without I, L, O, U: codes are read aloud and typed by hand.
  static let codeAlphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

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
    try await writer.write { db in
      guard try Tree(db: db).unit(id: unitID) != nil else { throw StoreError(.notFound, "there is no such unit") }
      try db.execute(
        sql: "INSERT INTO enrollment_codes (code_hash, unit_id, role, expires_at) VALUES (?, ?, ?, ?)",
        arguments: [Self.codeHash(code), Data(unitID), role.rawValue, expires])
    }
    return code
  }

  public func enroll(code: String, deviceName: String) async throws -> Orgsync_V1_EnrollResponse {
    let name = deviceName.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !name.isEmpty, name.count <= 100 else {
      throw StoreError(.invalidArgument, "the device name must be 1 to 100 characters")
    }
    let now = nowMillis
    return try await writer.write { db in
      guard
        let row = try Row.fetchOne(
          db, sql: "SELECT unit_id, role, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?",
          arguments: [Self.codeHash(code)]),
        (row["used_at"] as Int64?) == nil, (row["expires_at"] as Int64) > now
      else {
        throw StoreError(.unauthenticated, "the enrolment code is unknown, already used or expired")
      }
      let unitID = [UInt8](row["unit_id"] as Data)
      let role = Orgsync_V1_DeviceRole(rawValue: row["role"]) ?? .unspecified
      let deviceID = RecordID.make()
      var generator = SystemRandomNumberGenerator()
      let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
      let storedKey = Array(SHA256.hash(data: secret))
      try db.execute(
        sql: "INSERT INTO devices (id, unit_id, role, stored_key, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        arguments: [Data(deviceID), Data(unitID), role.rawValue, Data(storedKey), name, now])
      try db.execute(
        sql: "UPDATE enrollment_codes SET used_at = ?, device_id = ? WHERE code_hash = ?",
        arguments: [now, Data(deviceID), Self.codeHash(code)])
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
    try await writer.read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM devices WHERE id = ?", arguments: [Data(id)]).map(Self.deviceInfo)
    }
  }

  public func devices() async throws -> [DeviceInfo] {
    try await writer.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY created_at").map(Self.deviceInfo)
    }
  }

  static func deviceInfo(_ row: Row) -> DeviceInfo {
    DeviceInfo(
      id: [UInt8](row["id"] as Data), unitID: [UInt8](row["unit_id"] as Data),
      role: Orgsync_V1_DeviceRole(rawValue: row["role"]) ?? .unspecified, name: row["name"],
      storedKey: [UInt8](row["stored_key"] as Data), createdAt: row["created_at"], revokedAt: row["revoked_at"],
      lastSeenAt: row["last_seen_at"])
  }

  /// Notes that a device completed a call now (for `devices list`).
  public func noteSeen(deviceID: [UInt8], at millis: Int64) async throws {
    try await writer.write { db in
      try db.execute(
        sql: "UPDATE devices SET last_seen_at = ? WHERE id = ? AND coalesce(last_seen_at, 0) < ?",
        arguments: [millis, Data(deviceID), millis])
    }
  }

  public func revokeDevice(id: [UInt8]) async throws {
    let now = nowMillis
    try await writer.write { db in
      try db.execute(
        sql: "UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [now, Data(id)])
      guard db.changesCount == 1 else { throw StoreError(.notFound, "there is no such device") }
    }
  }

  public func unitName(id: [UInt8]) async throws -> (name: String, code: String)? {
    try await writer.read { db in
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
    try await writer.read { db in
      guard let unit = try Tree(db: db).unit(id: actor.unitID) else { return [] }
      let (low, high) = unit.subtreeRange
      return try Data.fetchAll(
        db,
        sql: """
          SELECT c.body FROM conflicts c JOIN units u ON u.num = c.unit_num
          WHERE u.path >= ? AND u.path < ? AND (c.status = ? OR ? OR coalesce(c.resolved_at, 0) >= ?)
          ORDER BY c.status, c.id LIMIT ?
          """,
        arguments: [
          low, high, Orgsync_V1_ConflictStatus.open.rawValue, includeResolved, resolvedSince ?? Int64.max,
          max(1, min(limit, 10_000)),
        ]
      ).map { try Orgsync_V1_Conflict(serializedBytes: $0) }
    }
  }

  public func resolveConflict(actor: Actor, id: [UInt8], byMutation: [UInt8]) async throws -> Orgsync_V1_Conflict {
    let now = nowMillis
    return try await writer.write { db in
      let tree = Tree(db: db)
      guard
        let row = try Row.fetchOne(db, sql: "SELECT unit_num, body FROM conflicts WHERE id = ?", arguments: [Data(id)]),
        let unit = try tree.unit(num: row["unit_num"]), let actorUnit = try tree.unit(id: actor.unitID),
        unit.path.hasPrefix(actorUnit.path)
      else {
        throw StoreError(.notFound, "there is no such conflict in this device's scope")
      }
      guard
        try Data.fetchOne(db, sql: "SELECT id FROM mutations WHERE id = ?", arguments: [Data(byMutation)]) != nil
      else {
        throw StoreError(.failedPrecondition, "push the resolving mutation before marking the conflict resolved")
      }
      var conflict = try Orgsync_V1_Conflict(serializedBytes: row["body"] as Data)
      conflict.status = .resolved
      conflict.resolvedByMutationID = Data(byMutation)
      conflict.resolvedByUnitID = Data(actor.unitID)
      conflict.resolvedAt = now
      try db.execute(
        sql: "UPDATE conflicts SET status = ?, body = ?, resolved_at = ? WHERE id = ?",
        arguments: [conflict.status.rawValue, try conflict.serializedBytes() as Data, now, Data(id)])
      return conflict
    }
  }

  public func audit(recordID: [UInt8]) async throws -> [AuditEntry] {
    try await writer.read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE record_id = ? ORDER BY seq", arguments: [Data(recordID)])
        .map { row in
          AuditEntry(
            seq: row["seq"], at: row["at"], deviceID: [UInt8](row["device_id"] as Data),
            recordID: [UInt8](row["record_id"] as Data),
            type: Orgsync_V1_RecordType(rawValue: row["type"]) ?? .unspecified, action: row["action"],
            fields: (row["fields"] as String).split(separator: ",").map(String.init))
        }
    }
  }
}

extension SQLiteStore {
  public func history(recordID: [UInt8], actor: Actor) async throws -> [Orgsync_V1_HistoryEntry] {
    // Visible now (the same rule as a fetch), or nothing: a device cannot probe for ids.
    guard try await !records(ids: [recordID], actor: actor).isEmpty else { return [] }
    return try await writer.read { db in
      try Row.fetchAll(
        db,
        sql: """
          SELECT a.at, a.action, a.fields, d.unit_id, d.name FROM audit a LEFT JOIN devices d ON d.id = a.device_id
          WHERE a.record_id = ? ORDER BY a.seq
          """, arguments: [Data(recordID)]
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

extension SQLiteStore {
  /// The stored result of a mutation, if the server has seen it.
  public func mutationResult(id: [UInt8]) async throws -> Orgsync_V1_MutationResult? {
    try await writer.read { db in
      try Data.fetchOne(db, sql: "SELECT result FROM mutations WHERE id = ?", arguments: [Data(id)])
        .map { try Orgsync_V1_MutationResult(serializedBytes: $0) }
    }
  }

  /// How many changes in the log a mutation made (0 or 1: never more).
  public func changeCount(mutationID: [UInt8]) async throws -> Int {
    try await writer.read { db in
      try Int.fetchOne(db, sql: "SELECT count(*) FROM changes WHERE mutation_id = ?", arguments: [Data(mutationID)])
        ?? 0
    }
  }

  /// Whether a conflict record exists.
  public func conflictExists(id: [UInt8]) async throws -> Bool {
    try await writer.read { db in
      try Bool.fetchOne(db, sql: "SELECT 1 FROM conflicts WHERE id = ?", arguments: [Data(id)]) ?? false
    }
  }
}

extension SQLiteStore {
  /// Every unit with its record, parents before children.
  public func units() async throws -> [(id: [UInt8], unit: Orgsync_V1_OrgUnit)] {
    try await writer.read { db in
      try Row.fetchAll(
        db,
        sql: """
          SELECT r.id, r.body FROM records r JOIN units u ON u.id = r.id
          WHERE r.type = 1 AND r.deleted = 0 ORDER BY length(u.path), u.path
          """
      ).map { row in
        ([UInt8](row[0] as Data), try RecordKinds.body(type: .orgUnit, bytes: [UInt8](row[1] as Data)).orgUnit)
      }
    }
  }

  /// A unit's id by its code (the indexed column transfers use too; no scan of every unit).
  public func unitID(code: String) async throws -> [UInt8]? {
    try await writer.read { db in try Tree(db: db).unitID(code: code) }
  }
}

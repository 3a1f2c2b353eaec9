import Foundation
import GRDB
import OrgSyncProto

/// The replica file cannot be used: damaged, truncated, not a database.
public struct ReplicaDamaged: Error, Sendable, CustomStringConvertible {
  public var path: String
  public var detail: String
  public var description: String { "the data file \(path) is damaged (\(detail))" }

  public init(path: String, detail: String) {
    self.path = path
    self.detail = detail
  }

  /// SQLite result codes that mean the file itself is bad, not the request.
  public static func isDamage(_ error: any Error) -> Bool {
    guard let error = error as? DatabaseError else { return false }
    return [.SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_IOERR, .SQLITE_FORMAT].contains(
      error.resultCode)
  }
}

/// The disk holding this PC's data is full: nothing is damaged and nothing was lost — the
/// write that failed was undone whole — but nothing more can be saved until space is freed.
public struct DiskFull: Error, Sendable, CustomStringConvertible {
  public var folder: String
  public var description: String { "the disk holding \(folder) is full" }

  public init(folder: String) { self.folder = folder }

  /// Less than this much free space counts as full when a write fails with an I/O error.
  public static let minimumFree: Int64 = 8 << 20

  /// Whether `error`, met while writing under `folder`, is a full disk: SQLite's FULL, ENOSPC,
  /// or an I/O error on a file system with almost no space left.
  public static func isDiskFull(_ error: any Error, folder: String) -> Bool {
    // Opening the file needs room too (its journal and shared-memory files): an I/O error then,
    // on a file system with almost no space left, is the disk, not the file.
    if error is ReplicaDamaged {
      let text = String(describing: error)
      guard text.contains("disk I/O error") || text.contains("database or disk is full") else { return false }
      return freeBytes(folder).map { $0 < minimumFree } ?? false
    }
    if let database = error as? DatabaseError {
      if database.resultCode == .SQLITE_FULL { return true }
      if database.resultCode == .SQLITE_IOERR { return freeBytes(folder).map { $0 < minimumFree } ?? false }
      return false
    }
    let text = String(describing: error)
    if text.contains("No space left on device") || text.contains("ENOSPC") { return true }
    if let posix = error as? POSIXError, posix.code == .ENOSPC { return true }
    let ns = error as NSError
    if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) { return true }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
      underlying.code == Int(ENOSPC)
    {
      return true
    }
    return false
  }

  /// Free bytes on the file system holding `folder` (nil when it cannot be read).
  public static func freeBytes(_ folder: String) -> Int64? {
    var info = statvfs()
    guard statvfs(folder, &info) == 0 else { return nil }
    return Int64(info.f_bavail) * Int64(info.f_frsize)
  }
}

/// What could be saved from a damaged replica.
public struct Salvage: Sendable {
  public var identity: Replica.Identity?
  public var trustedAuthority: String?
  /// Queued edits, oldest first, without duplicates.
  public var queued: [Orgsync_V1_Mutation] = []
  /// Of `queued`: how many came from the edit journal, and how many only from the damaged file.
  public var fromJournal = 0
  public var fromFile = 0
}

extension Replica {
  /// `PRAGMA synchronous` on a writing and a reading connection (2 = FULL: "saved" means on disk).
  public func synchronousSetting() throws -> [Int] {
    [
      try writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 },
      try writer.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 },
    ]
  }

  /// Closes the file (the replica cannot be used afterwards).
  public func close() throws {
    if let pool = writer as? DatabasePool { try pool.close() }
    if let queue = writer as? DatabaseQueue { try queue.close() }
  }

  /// A problem SQLite finds in the file (`PRAGMA quick_check`), or nil when it is sound.
  public func integrityProblem() throws -> String? {
    let result = try writer.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
    return result == ["ok"] ? nil : result.prefix(3).joined(separator: "; ")
  }

  /// Reads what it can from the replica at `path` without changing it: the identity (from the
  /// file, else from its copy beside it), the queued edits (from the edit journal, plus any
  /// only the file still has). `key` opens what is sealed; entries from before sealing
  /// existed are read as they are.
  public static func salvage(path: String, key: ReplicaKey) -> Salvage {
    let sealer = Sealer(key: key)
    func mutation(_ bytes: [UInt8]) -> Orgsync_V1_Mutation? {
      (try? sealer.open(Data(bytes))).flatMap { try? Orgsync_V1_Mutation(serializedBytes: $0) }
        ?? (try? Orgsync_V1_Mutation(serializedBytes: bytes))
    }
    var salvage = Salvage()
    var configuration = Configuration()
    configuration.readonly = true
    let damaged = try? DatabaseQueue(path: path, configuration: configuration)
    func state<T: DatabaseValueConvertible>(_ key: String) -> T? {
      try? damaged?.read { db in try T.fetchOne(db, sql: "SELECT value FROM state WHERE key = ?", arguments: [key]) }
    }
    if let server: String = state("server"), let device: Data = state("device_id"),
      let secret = (state("secret") as Data?).map({ (try? sealer.open($0)) ?? [UInt8]($0) }),
      let unit: Data = state("unit_id"), let role: Int = state("role")
    {
      salvage.identity = Identity(
        server: server, deviceID: [UInt8](device), secret: secret, unitID: [UInt8](unit),
        role: Orgsync_V1_DeviceRole(rawValue: role) ?? .unspecified, unitName: state("unit_name") ?? "")
      salvage.trustedAuthority = state("tls_ca")
    }
    if salvage.identity == nil, let copy = identityCopy(path: path, sealer: sealer) {
      salvage.identity = copy.identity
      salvage.trustedAuthority = copy.pem
    }
    var seen = Set<Data>()
    for bytes in OutboxJournal(path: journalPath(path)).entries() {
      guard let m = mutation(bytes), seen.insert(m.mutationID).inserted else {
        continue
      }
      salvage.queued.append(m)
      salvage.fromJournal += 1
    }
    // Rows only the file has (queued before the journal existed): read one by one, so a
    // damaged page loses only what is on it.
    if let damaged {
      let seqs = (try? damaged.read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM outbox ORDER BY seq") }) ?? []
      for seq in seqs {
        guard
          let bytes = try? damaged.read({ db in
            try Data.fetchOne(db, sql: "SELECT mutation FROM outbox WHERE seq = ?", arguments: [seq])
          }), let m = mutation([UInt8](bytes)), seen.insert(m.mutationID).inserted
        else { continue }
        salvage.queued.append(m)
        salvage.fromFile += 1
      }
    }
    try? damaged?.close()
    return salvage
  }

  static func identityCopy(path: String, sealer: Sealer) -> (identity: Identity, pem: String?)? {
    guard let data = FileManager.default.contents(atPath: identityPath(path)),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let server = object["server"] as? String, let device = (object["device_id"] as? String).flatMap(unhex),
      let stored = (object["secret"] as? String).flatMap(unhex),
      let secret = object["sealed"] as? Bool == true ? try? sealer.open(Data(stored)) : stored,
      let unit = (object["unit_id"] as? String).flatMap(unhex),
      let role = object["role"] as? Int
    else { return nil }
    return (
      Identity(
        server: server, deviceID: device, secret: secret, unitID: unit,
        role: Orgsync_V1_DeviceRole(rawValue: role) ?? .unspecified, unitName: object["unit_name"] as? String ?? ""),
      object["tls_ca"] as? String
    )
  }

  /// Rebuilds the replica at `path` from what can be salvaged: the damaged file (and its WAL)
  /// is moved aside, never deleted; a new file gets the identity and the queued edits with
  /// their original ids (the server applies each once). The records come back with the next
  /// sync. Throws if no identity can be found (then only a new enrolment helps; the queued
  /// edits are still in the journal for `enroll --replace`).
  public static func recover(path: String, key: ReplicaKey, now: Date = Date()) throws -> (
    salvage: Salvage, keptAs: String
  ) {
    let salvage = salvage(path: path, key: key)
    guard let identity = salvage.identity else {
      throw ReplicaError(
        "this computer's identity cannot be read from \(path) or its copy; enrol again with "
          + "`orgsync enroll --replace --server HOST:PORT --code CODE` (queued edits are kept)")
    }
    let aside = path + ".damaged-\(Int64(now.timeIntervalSince1970))"
    let manager = FileManager.default
    for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: path + suffix) {
      try manager.moveItem(atPath: path + suffix, toPath: aside + suffix)
    }
    let replica = try Replica(path: path, key: key)
    try replica.setIdentity(identity)
    try replica.setTrustedAuthority(salvage.trustedAuthority)
    try replica.requeue(salvage.queued)
    return (salvage, aside)
  }

  /// Puts queued edits back in the outbox as they were (ids, clocks, base versions).
  func requeue(_ mutations: [Orgsync_V1_Mutation]) throws {
    try writer.write { db in
      for m in mutations {
        try db.execute(
          sql: "INSERT OR IGNORE INTO outbox (mutation_id, record_id, mutation) VALUES (?, ?, ?)",
          arguments: [m.mutationID, m.recordID, try sealed(m)])
        clock.observe(m.hlc)
        try rebase([UInt8](m.recordID), db)
      }
      try setState("hlc", Int64(bitPattern: clock.now()), db)
    }
  }

  /// Empties the edit journal when nothing is queued any more (all of it was accepted).
  func compactJournal() throws {
    try journal?.truncate(ifEmpty: { try status().outbox })
  }

  /// Takes a new identity in place (after revocation, a new server address or a new CA),
  /// keeping the queued edits. If the unit changed, the server copy is dropped and pulled again.
  public func replaceIdentity(_ identity: Identity, trustedAuthority: String?) throws {
    let old = try self.identity()
    try writer.write { db in
      if let old, old.unitID != identity.unitID {
        try db.execute(sql: "DELETE FROM server_records")
        try db.execute(sql: "DELETE FROM records WHERE id NOT IN (SELECT record_id FROM outbox)")
        for id in try Data.fetchAll(db, sql: "SELECT DISTINCT record_id FROM outbox") { try rebase([UInt8](id), db) }
        try setState("cursor", nil, db)
        try setState("push_position", nil, db)
      }
    }
    try setIdentity(identity)
    try setTrustedAuthority(trustedAuthority)
  }
}

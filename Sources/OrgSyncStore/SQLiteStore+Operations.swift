import Foundation
import GRDB

/// What `/health` reports.
public struct StoreHealth: Sendable, Hashable {
  public var ok: Bool
  /// One line per check, for the operator.
  public var lines: [String]
  /// Bytes of the database file and its WAL.
  public var databaseBytes: Int64

  public init(ok: Bool, lines: [String], databaseBytes: Int64) {
    self.ok = ok
    self.lines = lines
    self.databaseBytes = databaseBytes
  }
}

/// Backup, restore and health: what an operator does to the file.
extension SQLiteStore {
  /// Copies the database to `destination` while it serves: SQLite's online backup inside one
  /// read transaction, so the copy is one consistent state (writers go on meanwhile). The copy
  /// is written to a temporary file, fsynced, then renamed. Returns the copy's log position.
  public func backup(to destination: String) async throws -> LogPosition {
    let temporary = destination + ".partial"
    try? FileManager.default.removeItem(atPath: temporary)
    let target = try DatabaseQueue(path: temporary)
    try writer.backup(to: target)
    let position = try await target.read { db in try Self.position(SQLiteSession(db)) }
    try target.close()
    try Self.fsync(path: temporary)
    if FileManager.default.fileExists(atPath: destination) {
      try FileManager.default.removeItem(atPath: destination)
    }
    try FileManager.default.moveItem(atPath: temporary, toPath: destination)
    try Self.fsync(
      path: (destination as NSString).deletingLastPathComponent.isEmpty
        ? "." : (destination as NSString).deletingLastPathComponent)
    return position
  }

  /// Moves everything in the WAL into the database file and empties the WAL.
  public func checkpoint() async throws {
    try await writer.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
  }

  /// Stops the database from growing past its present size, so that the next write that needs
  /// a new page fails as it would on a full disk (SQLITE_FULL). For tests of that path.
  public func limitSize() async throws {
    try await writer.writeWithoutTransaction { db in
      let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
      try db.execute(sql: "PRAGMA max_page_count = \(pages)")
    }
  }

  /// Closes the file (the store cannot be used afterwards).
  public func close() throws {
    if let pool = writer as? DatabasePool { try pool.close() }
    if let queue = writer as? DatabaseQueue { try queue.close() }
  }

  /// Checks that `path` is a readable OrgSync server database (before a restore). Returns its
  /// log position.
  public static func checkBackup(path: String) throws -> LogPosition {
    guard FileManager.default.fileExists(atPath: path) else {
      throw StoreError(.notFound, "there is no file \(path)")
    }
    var configuration = Configuration()
    configuration.readonly = true
    let queue: DatabaseQueue
    do {
      queue = try DatabaseQueue(path: path, configuration: configuration)
    } catch {
      throw StoreError(.invalidArgument, "\(path) is not a database (\(error))")
    }
    defer { try? queue.close() }
    return try queue.read { db in
      let check = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? ""
      guard check == "ok" else { throw StoreError(.invalidArgument, "\(path) is damaged: \(check)") }
      guard try db.tableExists("units"), try db.tableExists("changes"), try db.tableExists("devices") else {
        throw StoreError(.invalidArgument, "\(path) is not an OrgSync server database")
      }
      let head = try head(SQLiteSession(db))
      let history = try db.tableExists("histories") ? try currentHistory(SQLiteSession(db)) : []
      return LogPosition(history: history, seq: head)
    }
  }

  /// Replaces the database at `path` with the backup at `backup` (the server must be stopped).
  /// The database being replaced is kept beside it as `<name>.before-restore-<time>` (with its
  /// WAL), never deleted. The restored database then begins a new history, so that every
  /// device whose copy went past the backup heals on its next sync. Returns the new history.
  public static func restore(backup: String, over path: String, now: Date = Date()) async throws -> (
    history: [UInt8], keptAs: String?
  ) {
    _ = try checkBackup(path: backup)
    let manager = FileManager.default
    let folder =
      (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    let temporary = path + ".restoring"
    try? manager.removeItem(atPath: temporary)
    try manager.copyItem(atPath: backup, toPath: temporary)
    try fsync(path: temporary)
    var keptAs: String?
    if manager.fileExists(atPath: path) {
      let stamp = Int64(now.timeIntervalSince1970)
      let aside = path + ".before-restore-\(stamp)"
      for suffix in ["", "-wal", "-shm"] where manager.fileExists(atPath: path + suffix) {
        try manager.moveItem(atPath: path + suffix, toPath: aside + suffix)
      }
      keptAs = aside
    }
    // A WAL of the old file must never be applied to the restored one: both were moved aside.
    try manager.moveItem(atPath: temporary, toPath: path)
    try fsync(path: folder)
    let store = try SQLiteStore(path: path)
    let history = try await store.beginHistory(reason: "restore")
    return (history, keptAs)
  }

  /// Whether the database can be written and its disk has room; the size for metrics.
  public func health(minFreeBytes: Int64) async -> StoreHealth {
    var health = StoreHealth(ok: true, lines: [], databaseBytes: 0)
    let now = nowMillis
    do {
      try await writer.write { db in
        try db.execute(sql: "INSERT OR REPLACE INTO health (k, at) VALUES (1, ?)", arguments: [now])
      }
      health.lines.append("database: writable")
    } catch {
      health.ok = false
      health.lines.append("database: NOT writable (\(error))")
    }
    let path = writer.path
    if !path.isEmpty, path != ":memory:" {
      let manager = FileManager.default
      for suffix in ["", "-wal"] {
        let size = (try? manager.attributesOfItem(atPath: path + suffix)[.size] as? NSNumber)?.int64Value ?? 0
        health.databaseBytes += size
      }
      let folder = (path as NSString).deletingLastPathComponent
      if let free = (try? manager.attributesOfFileSystem(forPath: folder.isEmpty ? "." : folder))?[.systemFreeSize]
        as? NSNumber
      {
        let mib = free.int64Value >> 20
        if free.int64Value < minFreeBytes {
          health.ok = false
          health.lines.append("disk: only \(mib) MiB free (below \(minFreeBytes >> 20) MiB)")
        } else {
          health.lines.append("disk: \(mib) MiB free")
        }
      }
      health.lines.append("database size: \(health.databaseBytes >> 20) MiB")
    }
    return health
  }

  static func fsync(path: String) throws {
    let fd = Glibc.open(path, O_RDONLY)
    guard fd >= 0 else { throw StoreError(.failedPrecondition, "cannot open \(path) to flush it") }
    defer { Glibc.close(fd) }
    guard Glibc.fsync(fd) == 0 else { throw StoreError(.failedPrecondition, "cannot flush \(path) to disk") }
  }
}

import ArgumentParser
import Foundation
import OrgSyncCLI
import OrgSyncCore
import OrgSyncStore

/// An exclusive lock on the data folder, held by `serve` for its whole run (flock(2): the
/// kernel drops it when the process dies, kill -9 included). `restore` takes it too, so it
/// cannot replace the file under a running server.
final class DataLock {
  private var fd: Int32

  /// Takes the lock or throws exit code 75 (in use).
  init(path: String, purpose: String = "serve") throws {
    fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw ValidationError("cannot open \(path)") }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      Glibc.close(fd)
      fd = -1
      FileHandle.standardError.write(
        Data("orgsyncd: a server is running on this data folder; stop it first (\(purpose) needs it alone)\n".utf8))
      throw ExitCode(75)
    }
  }

  func release() {
    guard fd >= 0 else { return }
    flock(fd, LOCK_UN)
    Glibc.close(fd)
    fd = -1
  }

  deinit { release() }
}

struct Backup: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Copy the database to a file, consistently, while the server keeps serving.",
    discussion:
      "The copy is one consistent state of the database (SQLite's online backup). Keep copies off this machine. Restore one with `orgsyncd restore`; devices that synced after the copy was made heal on their next sync."
  )
  @OptionGroup var options: DataOptions
  @Argument(help: "Where to write the copy.") var file: String

  func run() async throws {
    try options.requireSQLite("backup")
    guard let store = try await options.store() as? SQLiteStore else { return }
    _ = try await store.backup(to: file)
    let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value ?? 0
    print("backed up to \(file) (\(size >> 10) KiB)")
  }
}

struct Restore: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Replace the database with a backup (stop the server first).",
    discussion:
      "The database being replaced is kept beside it as server.sqlite.before-restore-<time>. The restored database starts a new history: every device that synced after the backup was made notices on its next sync, offers back what it had sent since, and pulls again, so nothing acknowledged is lost while a device still holds it."
  )
  @OptionGroup var options: DataOptions
  @Argument(help: "The backup file (from `orgsyncd backup`).") var file: String

  func run() async throws {
    try options.requireSQLite("restore")
    try FileManager.default.createDirectory(
      at: options.folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let lock = try DataLock(path: options.lockPath, purpose: "restore")
    defer { lock.release() }
    do {
      _ = try SQLiteStore.checkBackup(path: file)
    } catch let error as StoreError {
      FileHandle.standardError.write(Data("orgsyncd: \(error.message); nothing was changed\n".utf8))
      throw ExitCode(65)
    }
    let (history, keptAs) = try await SQLiteStore.restore(backup: file, over: options.databasePath)
    print("restored \(file); new history \(RecordID.short(history))")
    if let keptAs { print("the replaced database is kept as \(keptAs)") }
  }
}

struct Histories: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the database's histories (one per start of the server and per restore).")
  @OptionGroup var options: DataOptions

  func run() async throws {
    let format = ISO8601DateFormatter()
    var table = Table(columns: ["history", "began", "why", "log before"])
    for history in try await options.store().histories() {
      table.rows.append([
        RecordID.short(history.id), format.string(from: Date(timeIntervalSince1970: Double(history.startedAt) / 1000)),
        history.reason, "\(history.previousHead)",
      ])
    }
    print(table.render(.table))
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto

/// A position in the server's change log: which history it belongs to and the last sequence
/// number served. Pull cursors, push answers and a device's "known position" all use it.
///
/// Encoding (25 bytes): version byte 2, the history id (16 bytes), the sequence number
/// (8 bytes, big-endian). The 9-byte version-1 cursors of earlier servers carry no history;
/// they are read as "another history", so their replicas heal once.
public struct LogPosition: Sendable, Hashable {
  public var history: [UInt8]
  public var seq: Int64

  public init(history: [UInt8], seq: Int64) {
    self.history = history
    self.seq = seq
  }

  public var bytes: [UInt8] {
    [2] + history + (0..<8).map { UInt8((UInt64(seq) >> (56 - 8 * UInt64($0))) & 0xFF) }
  }

  /// nil for the empty position (nothing seen yet).
  public static func decode(_ bytes: [UInt8]) throws -> LogPosition? {
    if bytes.isEmpty { return nil }
    if bytes.count == 9, bytes[0] == 1 {
      return LogPosition(history: [], seq: try seqValue(bytes[1...]))  // a history-less legacy cursor
    }
    guard bytes.count == 25, bytes[0] == 2 else {
      throw StoreError(.invalidArgument, "the pull cursor is not one this server made")
    }
    return LogPosition(history: Array(bytes[1..<17]), seq: try seqValue(bytes[17...]))
  }

  static func seqValue(_ bytes: ArraySlice<UInt8>) throws -> Int64 {
    let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard value <= UInt64(Int64.max) else { throw StoreError(.invalidArgument, "the pull cursor is out of range") }
    return Int64(value)
  }
}

/// One line of the server's history list.
public struct HistoryInfo: Sendable, Hashable {
  public var id: [UInt8]
  /// Why it began: init, serve, restore.
  public var reason: String
  /// Milliseconds since 1970.
  public var startedAt: Int64
  /// The last sequence number of the log when it began: positions of earlier histories up to
  /// here are still held.
  public var previousHead: Int64
}

/// Histories. A server database's change log is a chain of **histories**: one begins when the
/// database is made, at every `serve` start and at every restore. A position names its history.
/// A position is *held* when its history is in this database and its sequence number is not
/// beyond what that history durably reached (for an earlier history: the log's head when the
/// next one began; for the current one: the head now). A position that is not held was handed
/// out by a database whose tail this one lacks (a restore from a backup, files rolled back to
/// an older checkpoint): the device must heal instead of trusting its copy.
///
/// Every new history also moves the sequence counter up to a value derived from the clock
/// (milliseconds since 1970 × 2²¹, which fits a signed 64-bit number until 2109), so numbers
/// handed out by a lost tail are never issued again: a history would have to write over two
/// million changes per millisecond of its life to reach the next one's first number.
extension SQLRecordStore {
  static func head(_ db: any SQLSession) throws -> Int64 {
    try (db.scalar("SELECT coalesce(max(seq), 0) FROM changes") as Int64?) ?? 0
  }

  @discardableResult
  static func insertHistory(_ db: any SQLSession, reason: String, now: Int64, moveCounter: Bool) throws -> [UInt8] {
    let id = RecordID.make()
    let head = try head(db)
    try db.execute(
      "INSERT INTO histories (id, reason, started_at, previous_head) VALUES (?, ?, ?, ?)",
      [Data(id), reason, now, head])
    if moveCounter { try db.raiseChangeCounter(to: max(head, now << 21)) }
    return id
  }

  /// Starts a new history (at every `serve` start and after a restore). Returns its id.
  @discardableResult
  public func beginHistory(reason: String) async throws -> [UInt8] {
    let now = nowMillis
    return try await engine.write(exclusive: true) { db in
      try Self.insertHistory(db, reason: reason, now: now, moveCounter: true)
    }
  }

  public func histories() async throws -> [HistoryInfo] {
    try await engine.read { db in
      try db.fetchAll("SELECT id, reason, started_at, previous_head FROM histories ORDER BY num", []).map {
        HistoryInfo(id: [UInt8]($0[0] as Data), reason: $0[1], startedAt: $0[2], previousHead: $0[3])
      }
    }
  }

  static func currentHistory(_ db: any SQLSession) throws -> [UInt8] {
    guard
      let id = try (db.scalar("SELECT id FROM histories ORDER BY num DESC LIMIT 1") as Data?)
    else { throw StoreError(.failedPrecondition, "the database has no history; run the migrations") }
    return [UInt8](id)
  }

  /// The current position: this history, the log's head.
  static func position(_ db: any SQLSession) throws -> LogPosition {
    LogPosition(history: try currentHistory(db), seq: min(try head(db), try db.pullHorizon()))
  }

  /// Whether the log still holds `position` (see above). The empty position is always held.
  static func holds(_ position: LogPosition?, _ db: any SQLSession) throws -> Bool {
    guard let position else { return true }
    guard position.history.count == 16,
      let num = try (db.scalar("SELECT num FROM histories WHERE id = ?", [Data(position.history)]) as Int64?)
    else { return false }
    let end =
      try (db.scalar("SELECT previous_head FROM histories WHERE num > ? ORDER BY num LIMIT 1", [num]) as Int64?)
      ?? head(db)
    return position.seq <= end
  }

  public func holds(position: [UInt8]) async throws -> Bool {
    let decoded = try LogPosition.decode(position)
    return try await engine.read { db in try Self.holds(decoded, db) }
  }
}

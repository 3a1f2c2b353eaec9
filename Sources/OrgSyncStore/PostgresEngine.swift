import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The PostgreSQL engine: postgres-nio connections, each transaction on a thread of its own.
///
/// The store's rules are synchronous code over a session (they are shared with SQLite, whose
/// transactions are synchronous closures); here each transaction runs on a thread of a
/// dedicated pool and waits for its connection's replies. Threads and connections are paired:
/// at most `connections` transactions run at once, the rest queue for a thread.
///
/// Isolation: writes run at REPEATABLE READ, so two servers writing the same row (the same
/// record, the same enrolment code, the same mutation id) cannot both succeed — the later one
/// fails with a serialization error and the whole transaction is run again, on what the first
/// committed. Reads run at REPEATABLE READ READ ONLY: one snapshot for the whole read. Every write
/// holds a shared advisory lock (taken before its transaction begins); what rebuilds the tree's
/// paths or starts a history holds it exclusively, so nothing else writes meanwhile.
final class PostgresEngine: StoreEngine, @unchecked Sendable {
  let configuration: PostgresConnection.Configuration
  let threads: NIOThreadPool
  let group: any EventLoopGroup
  let logger: Logger
  let applicationName: String
  /// The advisory lock every write holds (shared) and tree-wide changes hold alone.
  let lockKey: Int64
  let naiveCursor: Bool
  let commitJitterMillis: Int
  private let idle = NIOLockedValueBox<[PostgresConnection]>([])
  /// How many times a transaction is run again after a serialization failure or deadlock.
  static let attempts = 50

  init(
    configuration: PostgresConnection.Configuration, connections: Int, group: any EventLoopGroup, logger: Logger,
    applicationName: String, lockKey: Int64, naiveCursor: Bool, commitJitterMillis: Int
  ) {
    self.configuration = configuration
    self.applicationName = applicationName
    self.lockKey = lockKey
    self.naiveCursor = naiveCursor
    self.commitJitterMillis = commitJitterMillis
    self.threads = NIOThreadPool(numberOfThreads: connections)
    self.group = group
    self.logger = logger
    threads.start()
  }

  func shutdown() async throws {
    let connections = idle.withLockedValue { list in
      defer { list.removeAll() }
      return list
    }
    for connection in connections { try? await connection.close() }
    try await threads.shutdownGracefully()
  }

  func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
    try await transaction(kind: .read, body)
  }

  func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
    try await transaction(kind: .write, body)
  }

  func write<T: Sendable>(exclusive: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
    try await transaction(kind: exclusive ? .exclusive : .write, body)
  }

  /// plain: READ COMMITTED, no lock (creating a schema).
  enum Kind { case read, write, exclusive, plain }

  deinit {
    // A store dropped without `close()` (a test's): let its connections and threads go.
    for connection in idle.withLockedValue({ $0 }) {
      connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
    threads.shutdownGracefully { _ in }
  }

  func transaction<T: Sendable>(kind: Kind, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws
    -> T
  {
    try await threads.runIfActive {
      let connection = try self.checkout()
      var healthy = true
      defer { self.checkin(connection, healthy: healthy) }
      // The store's lock is a session lock taken before BEGIN: a REPEATABLE READ transaction's
      // snapshot is taken by its first statement, and it must see what an exclusive writer (a
      // new history's counter) committed before this one got the lock.
      let lock: (take: String, release: String)? =
        switch kind {
        case .write: ("pg_advisory_lock_shared", "pg_advisory_unlock_shared")
        case .exclusive: ("pg_advisory_lock", "pg_advisory_unlock")
        case .read, .plain: nil
        }
      let locker = PostgresSession(
        connection: connection, logger: self.logger, applicationName: self.applicationName, naiveCursor: false)
      if let lock {
        do {
          try locker.execute("SELECT \(lock.take)(?)", [self.lockKey])
          try locker.sync()
        } catch {
          healthy = false
          throw Self.storeError(error)
        }
      }
      defer {
        if let lock {
          do {
            try locker.execute("SELECT \(lock.release)(?)", [self.lockKey])
            try locker.sync()
          } catch { healthy = false }
        }
      }
      var attempt = 0
      while true {
        attempt += 1
        let session = PostgresSession(
          connection: connection, logger: self.logger, applicationName: self.applicationName,
          naiveCursor: self.naiveCursor)
        do {
          if kind != .plain { try session.observeWriters() }
          switch kind {
          case .read:
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
          case .write, .exclusive:
            try session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
          case .plain:
            try session.execute("BEGIN")
          }
          let result = try body(session)
          if self.commitJitterMillis > 0, kind != .read {
            usleep(UInt32.random(in: 0...UInt32(self.commitJitterMillis) * 1000))
          }
          try session.execute("COMMIT")
          try session.sync()
          return result
        } catch {
          try? session.sync()
          do {
            try session.execute("ROLLBACK")
            try session.sync()
          } catch { healthy = false }
          guard healthy, attempt < Self.attempts, Self.isTransient(error) else { throw Self.storeError(error) }
          // Back off a little, more each time, so two retrying writers do not meet again.
          usleep(UInt32(min(attempt * attempt, 400)) * 250 + UInt32.random(in: 0..<2000))
        }
      }
    }
  }

  /// serialization_failure, deadlock_detected, unique_violation (two servers inserting the
  /// same mutation id or enrolment at once: the second sees the first's row when run again).
  static func isTransient(_ error: any Error) -> Bool {
    guard let state = (error as? PSQLError)?.serverInfo?[.sqlState] else { return false }
    return ["40001", "40P01", "23505"].contains(state)
  }

  /// What callers see: the store's own errors as they are; the database's as one line, with
  /// its SQLSTATE and message, never the statement's parameters (they may be personal data).
  static func storeError(_ error: any Error) -> any Error {
    guard let psql = error as? PSQLError else { return error }
    let state = psql.serverInfo?[.sqlState] ?? "-"
    let message = psql.serverInfo?[.message] ?? "\(psql.code)"
    return StoreError(.failedPrecondition, "PostgreSQL error \(state): \(message)")
  }

  func checkout() throws -> PostgresConnection {
    if let connection = idle.withLockedValue({ $0.popLast() }), !connection.isClosed { return connection }
    return try PostgresConnection.connect(
      on: group.any(), configuration: configuration, id: Int.random(in: 0..<Int.max), logger: logger
    ).wait()
  }

  func checkin(_ connection: PostgresConnection, healthy: Bool) {
    if healthy, !connection.isClosed {
      idle.withLockedValue { $0.append(connection) }
    } else {
      connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
  }
}

/// A PostgreSQL connection inside one transaction, blocking on each reply (see `PostgresEngine`).
final class PostgresSession: SQLSession {
  let connection: PostgresConnection
  let logger: Logger
  private var savepoints = 0
  /// This transaction's first change number and how many it has used (see `nextChangeSeq`).
  private var seqBase: Int64?
  private var seqUsed: Int64 = 0

  let applicationName: String
  let naiveCursor: Bool

  init(connection: PostgresConnection, logger: Logger, applicationName: String, naiveCursor: Bool) {
    self.connection = connection
    self.logger = logger
    self.applicationName = applicationName
    self.naiveCursor = naiveCursor
  }

  var dialect: SQLDialect { .postgres }

  /// `?` → `$1, $2, …` (outside quoted literals); values bound in binary.
  static func query(_ sql: String, _ arguments: [any SQLBindable]) -> PostgresQuery {
    var text = ""
    text.reserveCapacity(sql.utf8.count + 16)
    var number = 0
    var quoted = false
    for character in sql {
      if character == "'" { quoted.toggle() }
      if character == "?", !quoted {
        number += 1
        text += "$\(number)"
      } else {
        text.append(character)
      }
    }
    var binds = PostgresBindings(capacity: arguments.count)
    for argument in arguments {
      switch argument.sqlValue {
      case .null: binds.appendNull()
      case .integer(let v): binds.append(v)
      case .text(let t): binds.append(t)
      case .blob(let b): binds.append(ByteBuffer(bytes: b))
      }
    }
    return PostgresQuery(unsafeSQL: text, binds: binds)
  }

  /// Statements sent and not yet waited for (see `execute`).
  private var pending: [EventLoopFuture<PostgresQueryResult>] = []
  /// How many statements have been waited for in all (`pending` holds those after them).
  private var waited = 0

  /// Sends a statement and waits for its answer, after those sent before it.
  func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
    let answer = connection.query(Self.query(sql, arguments), logger: logger)
    try sync()
    return try answer.wait()
  }

  /// Waits for every statement sent so far; throws the first one's error. A connection answers
  /// in order, so this costs one wait, not one per statement.
  func sync() throws {
    let sent = pending
    pending.removeAll()
    waited += sent.count
    var first: (any Error)?
    for answer in sent {
      do { _ = try answer.wait() } catch { first = first ?? error }
    }
    if let first { throw first }
  }

  static func value(_ cell: PostgresCell) throws -> SQLValue {
    guard cell.bytes != nil else { return .null }
    switch cell.dataType {
    case .int8: return .integer(try cell.decode(Int64.self))
    case .int4: return .integer(Int64(try cell.decode(Int32.self)))
    case .int2: return .integer(Int64(try cell.decode(Int16.self)))
    case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
    case .bytea: return .blob(try cell.decode(Data.self))
    default: return .text(try cell.decode(String.self))
    }
  }

  /// Sends a statement without waiting for it: a push's inserts and upserts go out back to back
  /// and are waited for at the next read, savepoint end or commit (whose errors they surface),
  /// instead of a round trip each.
  func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
    pending.append(connection.query(Self.query(sql, arguments), logger: logger))
  }

  func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
    try run(sql, arguments).rows.map { row in SQLRow(try row.map(Self.value)) }
  }

  func fetchOne(_ sql: String, _ arguments: [any SQLBindable]) throws -> SQLRow? {
    try fetchAll(sql, arguments).first
  }

  func savepoint(_ body: () throws -> Void) throws {
    savepoints += 1
    let name = "s\(savepoints)"
    try execute("SAVEPOINT \(name)")
    let mark = waited + pending.count  // statements sent before the savepoint began, itself included
    do {
      try body()
      try execute("RELEASE SAVEPOINT \(name)")  // waited for with the next read or the commit
    } catch {
      // What was sent before the savepoint must have worked; what failed inside it is undone
      // with it (the rules refused the mutation, or a statement of it failed).
      let before = max(0, mark - waited)  // those not yet waited for
      let inside = Array(pending.dropFirst(before))
      pending = Array(pending.prefix(before))
      try sync()
      for answer in inside { _ = try? answer.wait() }
      waited += inside.count
      try execute("ROLLBACK TO SAVEPOINT \(name)")
      try sync()
      throw error
    }
  }

  func scan(
    _ sql: String, _ arguments: [any SQLBindable],
    _ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void
  ) throws {
    for row in try run(sql, arguments).rows {
      let cells = row.makeRandomAccess()
      guard cells.count >= 4 else { continue }
      let type = Int(try cells[0].decode(Int64.self))
      let empty = ByteBuffer()
      (cells[1].bytes ?? empty).withUnsafeReadableBytes { id in
        (cells[2].bytes ?? empty).withUnsafeReadableBytes { unit in
          (cells[3].bytes ?? empty).withUnsafeReadableBytes { bytes in body(type, id, unit, bytes) }
        }
      }
    }
  }

  /// The cursor rule on a database with concurrent writers. A change is numbered
  /// `history base + (transaction id << 24) + n`: the writing transaction's id (`pg_current_xact_id`)
  /// in the high bits, its n-th change in the low 24. A pull serves only changes of transactions
  /// older than its snapshot's oldest running one (`pullHorizon`): those have all committed or
  /// aborted, and any transaction still to commit has an id — hence numbers — above them.
  func nextChangeSeq() throws -> Int64 {
    if naiveCursor { return try scalar("SELECT nextval('naive_change_seq')") ?? 0 }
    if seqBase == nil {
      guard
        let row = try fetchOne(
          """
          SELECT (SELECT seq_base FROM histories ORDER BY num DESC LIMIT 1), pg_current_xact_id()::text::bigint
          """, [])
      else { throw StoreError(.failedPrecondition, "the database has no history; run the migrations") }
      let (base, xid): (Int64, Int64) = (row[0], row[1])
      let (shifted, overflow) = xid.multipliedReportingOverflow(by: 1 << 24)
      let (sum, overflow2) = base.addingReportingOverflow(shifted)
      guard !overflow, !overflow2, sum < Int64.max - (1 << 24) else {
        throw StoreError(.failedPrecondition, "the change counter is exhausted; start a new history (serve)")
      }
      seqBase = sum
    }
    guard seqUsed < (1 << 24) - 1 else {
      throw StoreError(.invalidArgument, "one transaction may write at most 16,777,215 changes")
    }
    seqUsed += 1
    return seqBase! + seqUsed
  }

  func raiseChangeCounter(to floor: Int64) throws {
    let xid: Int64 = try scalar("SELECT pg_current_xact_id()::text::bigint") ?? 0
    try execute(
      "UPDATE histories SET seq_base = ? WHERE num = (SELECT max(num) FROM histories)", [floor - (xid << 24)])
  }

  /// The oldest transaction whose changes a pull in this transaction must not pass, observed
  /// *before* the transaction's snapshot is taken (see `observeWriters`).
  private var oldestWriter: Int64 = 0

  /// Run before BEGIN, as one statement: first its own snapshot's xmax (every transaction below
  /// it had finished or was running), then this store's connections (by `application_name`)
  /// that hold a transaction id (pg_stat_activity's 32-bit id, widened against xmax; ids at or
  /// above xmax need no listing). A writer of this store that could still commit after the
  /// transaction's snapshot (taken later) either was running at this statement — then it is
  /// listed — or received its id after it, an id at or above xmax. The older of the two bounds
  /// the horizon. Other applications' transactions on the cluster do not hold pulls back.
  func observeWriters() throws {
    if naiveCursor { return }
    oldestWriter =
      try scalar(
        """
        WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x0)
        SELECT least(x0, (
          SELECT min(x0 - d) FROM (
            SELECT ((x0 & 4294967295) - a.backend_xid::text::bigint) & 4294967295 AS d
            FROM pg_stat_activity a WHERE a.application_name = ? AND a.backend_xid IS NOT NULL) AS w
          WHERE d < 2147483648))
        FROM s
        """, [applicationName]) ?? 0
  }

  /// Changes numbered from transaction ids below the oldest writer observed are all committed
  /// (or rolled back) and inside the snapshot.
  func pullHorizon() throws -> Int64 {
    if naiveCursor { return .max }
    let base: Int64 = try scalar("SELECT seq_base FROM histories ORDER BY num DESC LIMIT 1") ?? 0
    return max(0, base + (oldestWriter << 24) - 1)
  }
}

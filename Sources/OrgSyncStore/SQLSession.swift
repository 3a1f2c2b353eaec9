import Foundation

/// One value of a column or a parameter, in the types both stores use: integers (booleans are
/// 0 and 1), text, bytes, and NULL.
public enum SQLValue: Sendable, Hashable {
  case null
  case integer(Int64)
  case text(String)
  case blob(Data)
}

/// A Swift value that can be bound to a statement's `?`.
public protocol SQLBindable {
  var sqlValue: SQLValue { get }
}

/// A Swift value that a column can be read as. Reading is lenient (NULL reads as zero or empty):
/// the store writes every column it reads, so a mismatch is a bug to find in tests, not input.
public protocol SQLColumn {
  static func decode(_ value: SQLValue) -> Self
}

extension Int64: SQLBindable, SQLColumn {
  public var sqlValue: SQLValue { .integer(self) }
  public static func decode(_ value: SQLValue) -> Int64 {
    switch value {
    case .integer(let v): v
    case .text(let t): Int64(t) ?? 0
    default: 0
    }
  }
}

extension Int: SQLBindable, SQLColumn {
  public var sqlValue: SQLValue { .integer(Int64(self)) }
  public static func decode(_ value: SQLValue) -> Int { Int(Int64.decode(value)) }
}

extension Int32: SQLBindable {
  public var sqlValue: SQLValue { .integer(Int64(self)) }
}

extension Bool: SQLBindable, SQLColumn {
  public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
  public static func decode(_ value: SQLValue) -> Bool { Int64.decode(value) != 0 }
}

extension String: SQLBindable, SQLColumn {
  public var sqlValue: SQLValue { .text(self) }
  public static func decode(_ value: SQLValue) -> String {
    switch value {
    case .text(let t): t
    case .integer(let v): String(v)
    case .blob(let b): String(decoding: b, as: UTF8.self)
    case .null: ""
    }
  }
}

extension Data: SQLBindable, SQLColumn {
  public var sqlValue: SQLValue { .blob(self) }
  public static func decode(_ value: SQLValue) -> Data {
    switch value {
    case .blob(let b): b
    case .text(let t): Data(t.utf8)
    default: Data()
    }
  }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
  public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLColumn where Wrapped: SQLColumn {
  public static func decode(_ value: SQLValue) -> Wrapped? {
    if case .null = value { return nil }
    return Wrapped.decode(value)
  }
}

/// A row read by a statement; columns by position, as the statement lists them.
public struct SQLRow: Sendable {
  public var values: [SQLValue]

  public init(_ values: [SQLValue]) { self.values = values }

  public subscript<T: SQLColumn>(_ index: Int) -> T {
    T.decode(index < values.count ? values[index] : .null)
  }
}

/// The SQL both stores speak. Statements are written once, with `?` parameters, in the
/// common subset of SQLite (3.35 or later) and PostgreSQL: `INSERT … ON CONFLICT`, `RETURNING`,
/// row values, `substr`, `coalesce`. What differs (column types, the change counter) lives in
/// each store's schema and session, not in the rules.
public enum SQLDialect: Sendable {
  case sqlite, postgres
}

/// One transaction's connection, as the store's rules see it. Calls block the calling thread
/// (SQLite is in-process; PostgreSQL sessions run on a thread pool of their own).
public protocol SQLSession: AnyObject {
  var dialect: SQLDialect { get }
  func execute(_ sql: String, _ arguments: [any SQLBindable]) throws
  func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
  func fetchOne(_ sql: String, _ arguments: [any SQLBindable]) throws -> SQLRow?
  /// Runs `body` in a savepoint: undone if it throws (the error goes on), kept otherwise.
  func savepoint(_ body: () throws -> Void) throws
  /// Calls `body` with each row's first four columns as (integer, bytes, bytes, bytes), without
  /// copying them where the engine allows (the roll-up reads every record this way).
  func scan(
    _ sql: String, _ arguments: [any SQLBindable],
    _ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws
  /// A new change's sequence number (see `SQLRecordStore`'s cursor rule).
  func nextChangeSeq() throws -> Int64
  /// Moves the change counter so that every later change is numbered above `floor` (a new
  /// history: numbers a lost tail handed out are never issued again).
  func raiseChangeCounter(to floor: Int64) throws
  /// The highest sequence number a pull may serve in this transaction: every change at or
  /// below it has committed or never will. SQLite (one writer): no limit.
  func pullHorizon() throws -> Int64
}

extension SQLSession {
  public func execute(_ sql: String) throws { try execute(sql, []) }

  public func scalar<T: SQLColumn>(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
    guard let row = try fetchOne(sql, arguments) else { return nil }
    let value: T? = row[0]
    return value
  }

  public func column<T: SQLColumn>(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [T] {
    try fetchAll(sql, arguments).map { $0[0] }
  }
}

/// `?,?,?` for a list of `count` parameters (an `IN (…)` list).
func placeholders(_ count: Int) -> String {
  Array(repeating: "?", count: count).joined(separator: ",")
}

/// Runs transactions against a database: the SQLite file or a PostgreSQL server.
public protocol StoreEngine: Sendable {
  /// A read-only transaction over one consistent state.
  func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
  /// A read-write transaction, on stable storage when this returns. An engine with concurrent
  /// writers may run `body` again after a serialization failure, so it must not have effects
  /// outside the session.
  func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
  /// A write that nothing else may run beside (it rebuilds the tree's paths or starts a
  /// history). SQLite has one writer anyway.
  func write<T: Sendable>(exclusive: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
}

extension StoreEngine {
  public func write<T: Sendable>(exclusive: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T)
    async throws -> T
  {
    try await write(body)
  }
}

/// A store whose rules are the SQL in the `Store+…` files, run by an engine: `SQLiteStore` and
/// `PostgresStore` are both this, so they cannot drift apart.
///
/// The cursor rule (docs/ARCHITECTURE.md, "The cursor"): a pull never serves a change numbered
/// above `SQLSession.pullHorizon()` — every change at or below it has committed or never will —
/// so a cursor handed out never passes a change that commits later.
public protocol SQLRecordStore: ServerStore {
  var engine: any StoreEngine { get }
  var clock: @Sendable () -> Date { get }
  /// Whether the database takes a write (and, for a file, whether its disk has room).
  func health(minFreeBytes: Int64) async -> StoreHealth
}

extension SQLRecordStore {
  var nowMillis: Int64 { Int64(clock().timeIntervalSince1970 * 1000) }
}

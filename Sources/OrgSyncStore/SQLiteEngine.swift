import Foundation
import GRDB
import GRDBSQLite

/// The SQLite engine: GRDB's pool (one writer, WAL readers in parallel).
struct SQLiteEngine: StoreEngine {
  let writer: any DatabaseWriter

  func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
    try await writer.read { db in try body(SQLiteSession(db)) }
  }

  func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
    try await writer.write { db in try body(SQLiteSession(db)) }
  }
}

/// A GRDB connection inside one transaction. Statements are cached per connection (GRDB's
/// statement cache), so the rules' SQL is prepared once.
final class SQLiteSession: SQLSession {
  let db: Database

  init(_ db: Database) { self.db = db }

  var dialect: SQLDialect { .sqlite }

  func statement(_ sql: String, _ arguments: [any SQLBindable]) throws -> Statement {
    let statement = try db.cachedStatement(sql: sql)
    try statement.setArguments(StatementArguments(arguments.map { Self.databaseValue($0.sqlValue) }))
    return statement
  }

  static func databaseValue(_ value: SQLValue) -> DatabaseValue {
    switch value {
    case .null: .null
    case .integer(let v): v.databaseValue
    case .text(let t): t.databaseValue
    case .blob(let b): b.databaseValue
    }
  }

  static func value(_ value: DatabaseValue) -> SQLValue {
    switch value.storage {
    case .null: .null
    case .int64(let v): .integer(v)
    case .double(let d): .integer(Int64(d))
    case .string(let s): .text(s)
    case .blob(let b): .blob(b)
    }
  }

  static func row(_ row: Row) -> SQLRow {
    SQLRow(row.databaseValues.map(value))
  }

  func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
    try statement(sql, arguments).execute()
  }

  func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
    try Row.fetchAll(statement(sql, arguments)).map(Self.row)
  }

  func fetchOne(_ sql: String, _ arguments: [any SQLBindable]) throws -> SQLRow? {
    try Row.fetchOne(statement(sql, arguments)).map(Self.row)
  }

  func savepoint(_ body: () throws -> Void) throws {
    try db.inSavepoint {
      try body()
      return .commit
    }
  }

  /// Straight from SQLite's column memory: no row objects, no copies.
  func scan(
    _ sql: String, _ arguments: [any SQLBindable],
    _ body: (Int, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void
  ) throws {
    let sqlite = try statement(sql, arguments).sqliteStatement
    defer { sqlite3_reset(sqlite) }
    func column(_ index: Int32) -> UnsafeRawBufferPointer {
      UnsafeRawBufferPointer(start: sqlite3_column_blob(sqlite, index), count: Int(sqlite3_column_bytes(sqlite, index)))
    }
    while true {
      let step = sqlite3_step(sqlite)
      guard step == SQLITE_ROW else {
        if step != SQLITE_DONE { throw DatabaseError(resultCode: ResultCode(rawValue: step)) }
        return
      }
      body(Int(sqlite3_column_int64(sqlite, 0)), column(1), column(2), column(3))
    }
  }

  /// One writer: the log's AUTOINCREMENT is commit order.
  func nextChangeSeq() throws -> Int64 {
    guard
      let seq: Int64 = try scalar(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'changes' RETURNING seq")
    else {
      try execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', 1)")
      return 1
    }
    return seq
  }

  func raiseChangeCounter(to floor: Int64) throws {
    try execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
    try execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", [floor])
  }

  func pullHorizon() throws -> Int64 { .max }
}

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

  /// The cached statement for `sql`, reset, with `arguments` bound straight through SQLite's C
  /// API (GRDB prepares and caches; binding and stepping are the hot path, without row objects).
  func prepared(_ sql: String, _ arguments: [any SQLBindable]) throws -> OpaquePointer {
    let statement = try db.cachedStatement(sql: sql).sqliteStatement
    sqlite3_reset(statement)
    sqlite3_clear_bindings(statement)
    for (offset, argument) in arguments.enumerated() {
      let index = Int32(offset + 1)
      let code: Int32
      switch argument.sqlValue {
      case .null:
        code = sqlite3_bind_null(statement, index)
      case .integer(let value):
        code = sqlite3_bind_int64(statement, index, value)
      case .text(let text):
        code = text.utf8CString.withUnsafeBufferPointer {
          sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count - 1), Self.transient)
        }
      case .blob(let bytes) where bytes.isEmpty:
        code = sqlite3_bind_zeroblob(statement, index, 0)  // empty, not NULL
      case .blob(let bytes):
        code = bytes.withUnsafeBytes {
          sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), Self.transient)
        }
      }
      guard code == SQLITE_OK else { throw error(code, sql) }
    }
    return statement
  }

  /// SQLite copies what it is given (the Swift buffer does not outlive the call).
  static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  func error(_ code: Int32, _ sql: String) -> DatabaseError {
    // The statement, never its arguments: they may be personal data.
    DatabaseError(
      resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
  }

  /// Steps to the next row: true on a row, false when done.
  func step(_ statement: OpaquePointer, _ sql: String) throws -> Bool {
    let code = sqlite3_step(statement)
    if code == SQLITE_ROW { return true }
    if code == SQLITE_DONE { return false }
    throw error(code, sql)
  }

  static func row(_ statement: OpaquePointer) -> SQLRow {
    let count = sqlite3_column_count(statement)
    var values: [SQLValue] = []
    values.reserveCapacity(Int(count))
    for column in 0..<count {
      switch sqlite3_column_type(statement, column) {
      case SQLITE_INTEGER:
        values.append(.integer(sqlite3_column_int64(statement, column)))
      case SQLITE_FLOAT:
        values.append(.integer(Int64(sqlite3_column_double(statement, column))))
      case SQLITE_TEXT:
        let bytes = Int(sqlite3_column_bytes(statement, column))
        let text = sqlite3_column_text(statement, column).map {
          String(decoding: UnsafeBufferPointer(start: $0, count: bytes), as: UTF8.self)
        }
        values.append(.text(text ?? ""))
      case SQLITE_BLOB:
        let bytes = Int(sqlite3_column_bytes(statement, column))
        values.append(.blob(sqlite3_column_blob(statement, column).map { Data(bytes: $0, count: bytes) } ?? Data()))
      default:
        values.append(.null)
      }
    }
    return SQLRow(values)
  }

  func execute(_ sql: String, _ arguments: [any SQLBindable]) throws {
    let statement = try prepared(sql, arguments)
    defer { sqlite3_reset(statement) }
    while try step(statement, sql) {}
  }

  func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
    let statement = try prepared(sql, arguments)
    defer { sqlite3_reset(statement) }
    var rows: [SQLRow] = []
    while try step(statement, sql) { rows.append(Self.row(statement)) }
    return rows
  }

  func fetchOne(_ sql: String, _ arguments: [any SQLBindable]) throws -> SQLRow? {
    let statement = try prepared(sql, arguments)
    defer { sqlite3_reset(statement) }
    return try step(statement, sql) ? Self.row(statement) : nil
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
    let sqlite = try prepared(sql, arguments)
    defer { sqlite3_reset(sqlite) }
    func column(_ index: Int32) -> UnsafeRawBufferPointer {
      UnsafeRawBufferPointer(start: sqlite3_column_blob(sqlite, index), count: Int(sqlite3_column_bytes(sqlite, index)))
    }
    while try step(sqlite, sql) {
      body(Int(sqlite3_column_int64(sqlite, 0)), column(1), column(2), column(3))
    }
  }

  /// The last change number handed out in this transaction.
  private var lastSeq: Int64?

  /// One writer: numbers in order are commit order. The counter is AUTOINCREMENT's: read once
  /// per transaction, counted here, and kept up by SQLite as each change is inserted with its
  /// number (a number of a rolled-back savepoint is skipped, never reused).
  func nextChangeSeq() throws -> Int64 {
    if lastSeq == nil {
      lastSeq =
        try scalar(
          """
          SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0),
                     coalesce((SELECT max(seq) FROM changes), 0))
          """) ?? 0
    }
    lastSeq! += 1
    return lastSeq!
  }

  func raiseChangeCounter(to floor: Int64) throws {
    try execute("DELETE FROM sqlite_sequence WHERE name = 'changes'")
    try execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('changes', ?)", [floor])
    lastSeq = nil
  }

  func pullHorizon() throws -> Int64 { .max }
}

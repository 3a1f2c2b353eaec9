import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

/// The embedded store: one SQLite file through GRDB (WAL, foreign keys), or memory for tests.
///
/// Hierarchy: a **materialized path** per unit (`/1/5/42/`, of compact integer unit numbers):
/// a subtree is one index range scan, ancestors are the path itself, and moving a subtree
/// rewrites the paths below it (rare). Scope of a change: one `scope_index` row per ancestor of
/// the record's unit (at most six), so "what is new for unit U" is one index range on
/// (U, seq) and costs what changed inside U's scope, however large the log elsewhere.
public final class SQLiteStore: SQLRecordStore {
  let writer: any DatabaseWriter
  public let engine: any StoreEngine
  public let clock: @Sendable () -> Date

  /// Opens (creating if needed) the database at `path`; nil path: a private in-memory database.
  public init(path: String?, clock: @escaping @Sendable () -> Date = { Date() }) throws {
    writer = try Self.open(path: path, cacheKiB: 65536)
    engine = SQLiteEngine(writer: writer)
    self.clock = clock
    try Self.migrator.migrate(writer)
  }

  /// How the server's and the replica's SQLite files are opened.
  ///
  /// - `synchronous = FULL` with WAL: a commit returns only after the WAL is fsynced, so what
  ///   the server acknowledges (and what a replica calls saved) survives a power cut, not just
  ///   a killed process. A push batch is one transaction, so the fsync is paid once per batch.
  /// - A busy timeout: the admin commands (`orgsyncd enroll`, `devices`, `backup`) open the same
  ///   file as a serving server and wait for its write lock instead of failing with SQLITE_BUSY.
  public static func open(path: String?, cacheKiB: Int) throws -> any DatabaseWriter {
    var configuration = Configuration()
    configuration.foreignKeysEnabled = true
    configuration.busyMode = .timeout(busyTimeout)
    configuration.prepareDatabase { db in
      try db.execute(sql: "PRAGMA synchronous = FULL")
      try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
      try db.execute(sql: "PRAGMA temp_store = MEMORY")
    }
    if let path {
      let pool = try DatabasePool(path: path, configuration: configuration)
      // GRDB turns on WAL after `prepareDatabase` and sets NORMAL on the writer as it does;
      // set FULL again on the (one, long-lived) writer connection. A test checks it.
      try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
      return pool
    }
    return try DatabaseQueue(configuration: configuration)
  }

  /// Seconds a connection waits for another's lock before it gives up.
  public static let busyTimeout: TimeInterval = 60

  /// `PRAGMA synchronous` as every connection of this store sees it (2 = FULL).
  public func synchronousSetting() async throws -> [Int] {
    let write = try await writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    let read = try await writer.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    return [write, read]
  }

  /// Migrations: literal names, never edited once shipped; a change is a new migration.
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      try db.execute(
        sql: """
          CREATE TABLE units (
            num INTEGER PRIMARY KEY,
            id BLOB NOT NULL UNIQUE,
            parent_num INTEGER REFERENCES units(num),
            path TEXT NOT NULL,
            moved_seq INTEGER NOT NULL DEFAULT 0
          );
          CREATE INDEX units_path ON units(path);

          CREATE TABLE records (
            id BLOB PRIMARY KEY,
            type INTEGER NOT NULL,
            unit_num INTEGER NOT NULL REFERENCES units(num),
            audience_num INTEGER REFERENCES units(num),
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            hlc INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            body BLOB NOT NULL,
            field_meta BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE INDEX records_unit ON records(unit_num, type);
          CREATE INDEX records_audience ON records(audience_num) WHERE audience_num IS NOT NULL;

          CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            record_id BLOB NOT NULL,
            type INTEGER NOT NULL,
            version INTEGER NOT NULL,
            old_unit_num INTEGER,
            new_unit_num INTEGER NOT NULL,
            mutation_id BLOB,
            device_id BLOB,
            at INTEGER NOT NULL
          );

          CREATE TABLE scope_index (
            scope_num INTEGER NOT NULL,
            record_id BLOB NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (scope_num, record_id)
          ) WITHOUT ROWID;
          CREATE INDEX scope_index_seq ON scope_index(scope_num, seq);

          CREATE TABLE down_index (
            audience_num INTEGER NOT NULL,
            record_id BLOB NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (audience_num, record_id)
          ) WITHOUT ROWID;
          CREATE INDEX down_index_seq ON down_index(audience_num, seq);

          CREATE TABLE mutations (
            id BLOB PRIMARY KEY,
            device_id BLOB NOT NULL,
            result BLOB NOT NULL,
            at INTEGER NOT NULL
          ) WITHOUT ROWID;

          CREATE TABLE conflicts (
            id BLOB PRIMARY KEY,
            record_id BLOB NOT NULL,
            unit_num INTEGER NOT NULL,
            status INTEGER NOT NULL,
            body BLOB NOT NULL
          ) WITHOUT ROWID;
          CREATE INDEX conflicts_unit ON conflicts(unit_num, status);

          CREATE TABLE devices (
            id BLOB PRIMARY KEY,
            unit_id BLOB NOT NULL,
            role INTEGER NOT NULL,
            stored_key BLOB NOT NULL,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
          ) WITHOUT ROWID;

          CREATE TABLE enrollment_codes (
            code_hash BLOB PRIMARY KEY,
            unit_id BLOB NOT NULL,
            role INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            used_at INTEGER,
            device_id BLOB
          ) WITHOUT ROWID;

          CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            device_id BLOB NOT NULL,
            record_id BLOB NOT NULL,
            type INTEGER NOT NULL,
            action TEXT NOT NULL,
            fields TEXT NOT NULL,
            mutation_id BLOB
          );
          CREATE INDEX audit_record ON audit(record_id);
          """)
    }
    registerLaterMigrations(&migrator)
    return migrator
  }

  static func registerLaterMigrations(_ migrator: inout DatabaseMigrator) {
    migrator.registerMigration("v2-histories") { grdb in
      let db = SQLiteSession(grdb)
      try db.execute(
        """
        CREATE TABLE histories (
          num INTEGER PRIMARY KEY,
          id BLOB NOT NULL UNIQUE,
          reason TEXT NOT NULL,
          started_at INTEGER NOT NULL,
          previous_head INTEGER NOT NULL
        );
        """)
      try insertHistory(db, reason: "init", now: Int64(Date().timeIntervalSince1970 * 1000), moveCounter: false)
    }
    migrator.registerMigration("v3-device-last-seen") { grdb in
      let db = SQLiteSession(grdb)
      try db.execute("ALTER TABLE devices ADD COLUMN last_seen_at INTEGER")
      try db.execute("CREATE TABLE health (k INTEGER PRIMARY KEY, at INTEGER NOT NULL)")
    }
    migrator.registerMigration("v4-conflicts-resolved-at") { grdb in
      let db = SQLiteSession(grdb)
      try db.execute("ALTER TABLE conflicts ADD COLUMN resolved_at INTEGER")
    }
    // Transfers name the receiving unit by its organisation code: the server finds it by code.
    migrator.registerMigration("v5-unit-codes") { grdb in
      let db = SQLiteSession(grdb)
      try db.execute("ALTER TABLE units ADD COLUMN code TEXT")
      try db.execute("CREATE INDEX units_code ON units(code) WHERE code IS NOT NULL")
      let rows = try db.fetchAll(
        "SELECT id, body FROM records WHERE type = ? AND deleted = 0", [Orgsync_V1_RecordType.orgUnit.rawValue])
      for row in rows {
        let unit = try Orgsync_V1_OrgUnit(serializedBytes: row[1] as Data)
        try db.execute("UPDATE units SET code = ? WHERE id = ?", [unit.code, row[0] as Data])
      }
    }
    // Roll-ups kept on write: each unit's share of a period, and the generation of its records.
    migrator.registerMigration("v6-rollup-partials") { grdb in
      try grdb.execute(
        sql: """
          CREATE TABLE rollup_gen (unit_num INTEGER PRIMARY KEY, gen INTEGER NOT NULL);
          CREATE TABLE rollup_partials (
            unit_num INTEGER NOT NULL,
            year INTEGER NOT NULL,
            period INTEGER NOT NULL,
            gen INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (unit_num, year, period)
          ) WITHOUT ROWID;
          """)
    }
  }
}

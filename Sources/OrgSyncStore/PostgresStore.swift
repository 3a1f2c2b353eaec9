import Foundation
import Logging
import NIOCore
import NIOPosix
import OrgSyncCore
import PostgresNIO

/// The PostgreSQL store: the same rules as `SQLiteStore` (the `Store+…` files), on a server
/// that several `orgsyncd serve` processes share. Nothing a server keeps in memory is needed by
/// another: every answer comes from the database.
///
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&sslmode=disable]`: with a
/// schema, the store's tables live in it (created if missing), so several stores can share one
/// database (the tests do).
public final class PostgresStore: SQLRecordStore {
  public let engine: any StoreEngine
  public let clock: @Sendable () -> Date
  let postgres: PostgresEngine
  /// What this store's connections call themselves (`application_name`): the pull horizon
  /// waits only for writers of this store (see `PostgresSession.pullHorizon`).
  let applicationName: String

  public struct Options: Sendable {
    /// Transactions at once (threads and connections).
    public var connections = 8
    /// For tests only: number changes from a plain sequence and serve up to the newest, the
    /// naive cursor that skips a change committing after a later-numbered one.
    public var naiveCursor = false
    /// For tests only: wait up to this many milliseconds before each write commits, so that
    /// transactions overlap and commit out of order.
    public var commitJitterMillis = 0

    public init(connections: Int = 8, naiveCursor: Bool = false, commitJitterMillis: Int = 0) {
      self.connections = connections
      self.naiveCursor = naiveCursor
      self.commitJitterMillis = commitJitterMillis
    }
  }

  /// Connects, creates or migrates the schema (one server at a time: under a lock).
  public init(
    url: String, options: Options = Options(), clock: @escaping @Sendable () -> Date = { Date() },
    logger: Logger = Logger(label: "orgsync.postgres")
  ) async throws {
    let parsed = try PostgresURL(url)
    applicationName = "orgsync:\(parsed.database):\(parsed.schema ?? "public")"
    var configuration = PostgresConnection.Configuration(
      host: parsed.host, port: parsed.port, username: parsed.user, password: parsed.password,
      database: parsed.database, tls: .disable)
    configuration.options.additionalStartupParameters = [("application_name", applicationName)]
    if let schema = parsed.schema {
      configuration.options.additionalStartupParameters.append(("search_path", schema))
    }
    postgres = PostgresEngine(
      configuration: configuration, connections: max(1, options.connections),
      group: MultiThreadedEventLoopGroup.singleton, logger: logger, applicationName: applicationName,
      lockKey: Self.lockKey(applicationName), naiveCursor: options.naiveCursor,
      commitJitterMillis: options.commitJitterMillis)
    engine = postgres
    self.clock = clock
    do {
      if let schema = parsed.schema {
        try await postgres.transaction(kind: .plain) { db in
          try db.execute("CREATE SCHEMA IF NOT EXISTS \(PostgresURL.quoted(schema))")
        }
      }
      try await PostgresSchema.migrate(postgres)
    } catch {
      try? await postgres.shutdown()
      throw PostgresEngine.storeError(error)
    }
  }

  /// Closes the connections and stops the store's threads.
  public func close() async throws {
    try await postgres.shutdown()
  }

  /// The advisory lock's key: one per database and schema, so stores in other schemas of the
  /// same database do not wait for each other.
  static func lockKey(_ name: String) -> Int64 {
    Int64(bitPattern: name.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
  }

  /// The URL without its password, for messages.
  public static func redacted(_ url: String) -> String {
    guard var components = URLComponents(string: url) else { return "(an unreadable address)" }
    if components.password != nil { components.password = "***" }
    return components.string ?? url
  }

  /// Whether the database takes a write; for `/health` (the disk is PostgreSQL's to watch).
  public func health(minFreeBytes: Int64) async -> StoreHealth {
    let now = nowMillis
    do {
      try await engine.write { db in
        try db.execute(
          "INSERT INTO health (k, at) VALUES (1, ?) ON CONFLICT (k) DO UPDATE SET at = excluded.at", [now])
      }
      let bytes: Int64 = try await engine.read { db in
        try db.scalar("SELECT pg_database_size(current_database())") ?? 0
      }
      return StoreHealth(
        ok: true, lines: ["database: writable (PostgreSQL)", "database size: \(bytes >> 20) MiB"],
        databaseBytes: bytes)
    } catch {
      return StoreHealth(ok: false, lines: ["database: NOT writable (\(error))"], databaseBytes: 0)
    }
  }
}

/// The parts of a `postgres://` URL the store uses.
struct PostgresURL {
  var user: String
  var password: String?
  var host: String
  var port: Int
  var database: String
  var schema: String?

  init(_ url: String) throws {
    guard let components = URLComponents(string: url),
      ["postgres", "postgresql"].contains(components.scheme ?? ""), let host = components.host, !host.isEmpty
    else {
      throw StoreError(.invalidArgument, "the PostgreSQL address must look like postgres://user@host:port/database")
    }
    self.host = host
    port = components.port ?? 5432
    user = components.user ?? "postgres"
    password = components.password
    let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
    database = path.isEmpty ? user : path
    schema = components.queryItems?.first { $0.name == "schema" }?.value
    if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
      throw StoreError(.invalidArgument, "the schema name may hold only letters, digits and _")
    }
  }

  static func quoted(_ identifier: String) -> String { "\"\(identifier)\"" }
}

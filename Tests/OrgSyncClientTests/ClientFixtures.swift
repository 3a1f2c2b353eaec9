import Foundation
import Logging
import OrgSyncAPI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncServer
import OrgSyncStore
import OrgSyncTestSupport
import Synchronization
import Testing

/// A county on a real server over 127.0.0.1, with a SQLite file that outlives restarts:
/// 邵东县委 → 廉桥镇 (太平村, 新民村, 大塘村), 流光岭镇 (双凤村).
final class TestServer: @unchecked Sendable {
  let folder: URL
  private(set) var store: SQLiteStore
  var databasePath: String { folder.appendingPathComponent("server.sqlite").path }
  private(set) var server: RPCServer?
  private var serving: Task<Void, any Error>?
  private(set) var port = 0
  /// Where the server logs (the default: standard error).
  var logger = Logger(label: "orgsync.test.server")
  let county = RecordID.make()
  let lianqiao = RecordID.make()
  let liuguangling = RecordID.make()
  let taiping = RecordID.make()
  let xinmin = RecordID.make()
  let datang = RecordID.make()
  let shuangfeng = RecordID.make()

  init() async throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-test-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    store = try SQLiteStore(path: folder.appendingPathComponent("server.sqlite").path)
    func unit(_ code: String, _ name: String, _ level: Orgsync_V1_UnitLevel, _ parent: [UInt8]?) -> Orgsync_V1_OrgUnit {
      var unit = Orgsync_V1_OrgUnit()
      unit.code = code
      unit.name = name
      unit.level = level
      unit.kind = level == .grassroots ? .branch : .committee
      unit.parentID = Data(parent ?? [])
      return unit
    }
    let results = try await store.importUnits([
      (county, unit("430521", "中共邵东县委员会", .county, nil)),
      (lianqiao, unit("430521-103", "中共廉桥镇委员会", .township, county)),
      (liuguangling, unit("430521-104", "中共流光岭镇委员会", .township, county)),
      (taiping, unit("430521-103-007", "太平村党支部", .grassroots, lianqiao)),
      (xinmin, unit("430521-103-008", "新民村党支部", .grassroots, lianqiao)),
      (datang, unit("430521-103-009", "大塘村党支部", .grassroots, lianqiao)),
      (shuangfeng, unit("430521-104-002", "双凤村党支部", .grassroots, liuguangling)),
    ])
    precondition(results.allSatisfy { $0.outcome == .applied })
    try await start()
  }

  /// Starts the server (again, on the same port after a restart). Like `orgsyncd serve`, each
  /// start begins a new history.
  func start() async throws {
    try await store.beginHistory(reason: "serve")
    let shared = FairShareStore(store)
    let server = RPCServer(
      configuration: .init(
        port: port, shutdownGracePeriod: .seconds(2), authenticator: DeviceAuthenticator(store: shared)),
      services: [SyncService(store: shared), EnrollmentService(store: shared)], logger: logger)
    serving = Task { try await server.run() }
    port = try await server.localAddress().port!
    self.server = server
  }

  func stop() async {
    server?.beginGracefulShutdown()
    _ = await serving?.result
    server = nil
  }

  /// Replaces the stopped server's database with `backup`, as `orgsyncd restore` does.
  func restore(from backup: String) async throws {
    precondition(server == nil, "stop the server first")
    try store.close()
    _ = try await SQLiteStore.restore(backup: backup, over: databasePath)
    store = try SQLiteStore(path: databasePath)
  }

  /// Swaps in the database file as it is on disk now (after files were replaced by hand).
  func reopen() throws {
    precondition(server == nil, "stop the server first")
    store = try SQLiteStore(path: databasePath)
  }

  /// Closes the database (before its files are replaced by hand).
  func closeStore() throws {
    precondition(server == nil, "stop the server first")
    try store.close()
  }

  deinit {
    try? FileManager.default.removeItem(at: folder)
  }

  /// Enrols a device and returns its replica and sync engine, talking to `port` (a proxy's,
  /// or the server's by default).
  func device(
    unit: [UInt8], role: Orgsync_V1_DeviceRole, via port: Int? = nil, timeout: Duration = .seconds(60),
    replicaPath: String? = nil, compression: Bool = true
  ) async throws -> Device {
    let code = try await store.makeEnrollmentCode(unitID: unit, role: role, validSeconds: 600)
    let enrolled = try await store.enroll(code: code, deviceName: "测试设备")
    let replica = try Replica(path: replicaPath, key: replicaPath.map(testKey))
    try replica.setIdentity(
      .init(
        server: "127.0.0.1:\(port ?? self.port)", deviceID: Array(enrolled.deviceID), secret: Array(enrolled.secret),
        unitID: unit, role: role, unitName: enrolled.unitName))
    var configuration = RPCClient.Configuration(
      host: "127.0.0.1", port: port ?? self.port,
      identity: ClientIdentity(deviceID: Array(enrolled.deviceID), secret: Array(enrolled.secret)),
      connectTimeout: timeout, backoff: .init(initial: .milliseconds(1), maximum: .milliseconds(20)))
    configuration.compression = compression
    let client = try RPCClient(configuration: configuration)
    var engine = SyncEngine(replica: replica, client: client)
    engine.timeout = timeout
    return Device(
      replica: replica, engine: engine, actor: Actor(deviceID: Array(enrolled.deviceID), unitID: unit, role: role))
  }

  /// A sync engine for a replica that holds an identity already (after a recovery).
  func engine(for replica: Replica) throws -> SyncEngine {
    let identity = try #require(try replica.identity())
    let client = try RPCClient(
      configuration: .init(
        host: "127.0.0.1", port: port, identity: ClientIdentity(deviceID: identity.deviceID, secret: identity.secret),
        connectTimeout: .seconds(60)))
    return SyncEngine(replica: replica, client: client)
  }

  /// The server's view of an actor's scope: id → record.
  func scope(of actor: Actor) async throws -> [Data: Orgsync_V1_Record] {
    var cursor: [UInt8] = []
    var records: [Data: Orgsync_V1_Record] = [:]
    while true {
      let page = try await store.pull(actor: actor, cursor: cursor, pageSize: 1000)
      for change in page.changes {
        if change.kind == .upsert, !change.record.deleted {
          var record = change.record
          PersonalData.redact(&record, for: actor)  // what the server sends this device
          records[change.record.id] = record
        } else {
          records[change.record.id] = nil
        }
      }
      cursor = Array(page.cursor)
      if !page.more { return records }
    }
  }
}

struct Device: Sendable {
  let replica: Replica
  var engine: SyncEngine
  let actor: Actor
}

func memberBody(_ name: String, note: String = "") -> Orgsync_V1_RecordBody {
  var m = Orgsync_V1_Member()
  m.name = name
  m.status = .full
  m.note = note
  var body = Orgsync_V1_RecordBody()
  body.member = m
  return body
}

func opinionBody(_ content: String) -> Orgsync_V1_RecordBody {
  var o = Orgsync_V1_Opinion()
  o.source = .visit
  o.content = content
  o.date = CalendarDate.make(2026, 7, 3)
  o.category = .livelihood
  var body = Orgsync_V1_RecordBody()
  body.opinion = o
  return body
}

func noticeBody(_ title: String, to audience: [UInt8]) -> Orgsync_V1_RecordBody {
  var n = Orgsync_V1_Notice()
  n.audienceRootID = Data(audience)
  n.title = title
  n.body = "请各支部按时报送。"
  n.issuedOn = CalendarDate.make(2026, 11, 20)
  var body = Orgsync_V1_RecordBody()
  body.notice = n
  return body
}

func reportBody(_ status: Orgsync_V1_ReportStatus, quarter: Orgsync_V1_ReportPeriod = .q3, comment: String = "")
  -> Orgsync_V1_RecordBody
{
  var r = Orgsync_V1_Report()
  r.year = 2026
  r.period = quarter
  r.kind = .quarterlyCheck
  r.title = "2026年季度检查报告"
  r.status = status
  if status != .draft { r.submittedOn = CalendarDate.make(2026, 10, 8) }
  r.reviewerComment = comment
  var body = Orgsync_V1_RecordBody()
  body.report = r
  return body
}

/// The replica's records, as the server would list them: id → (unit, version, body bytes).
func snapshot(_ replica: Replica) throws -> [Data: String] {
  var out: [Data: String] = [:]
  for record in try replica.records() {
    out[Data(record.id)] = "\(record.unitID) v\(record.version) \(RecordKinds.bytes(of: record.body))"
  }
  return out
}

func snapshot(_ records: [Data: Orgsync_V1_Record]) -> [Data: String] {
  records.mapValues { "\(Array($0.unitID)) v\($0.version) \(RecordKinds.bytes(of: $0.body))" }
}

/// The key of each replica file a test made (reopening a file needs the key it was sealed with).
func testKey(_ path: String) -> ReplicaKey {
  testKeys.withLock { keys in
    if let key = keys[path] { return key }
    let key = ReplicaKey.random()
    keys[path] = key
    return key
  }
}
private let testKeys = Mutex<[String: ReplicaKey]>([:])

import Foundation
import GRDB
import Logging
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncStore
import Testing

@testable import OrgSyncClient

/// An accepted edit survives anything short of losing every copy of it: a restore from an
/// older backup, a database whose WAL was lost, a damaged replica.
@Suite("History, restore and recovery")
struct HistoryTests {
  @Test("acknowledgements wait for the disk: synchronous = FULL on the server and the replica")
  func durableSettings() async throws {
    let server = try await TestServer()
    #expect(try await server.store.synchronousSetting() == [2, 2])
    let file = server.folder.appendingPathComponent("branch.sqlite").path
    let branch = try await server.device(unit: server.taiping, role: .branch, replicaPath: file)
    #expect(try branch.replica.synchronousSetting() == [2, 2])
  }

  @Test("backup, the branch adds two records, restore, the county sends a notice: nothing is lost")
  func restoreFromBackup() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let early = try branch.replica.create(memberBody("王建国"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    _ = try await county.engine.sync()

    let backup = server.folder.appendingPathComponent("backup.sqlite").path
    _ = try await server.store.backup(to: backup)

    // After the backup: two records from the branch, and an edit of the early one.
    let member = try branch.replica.create(memberBody("李秀英"), unitID: server.taiping)
    let opinion = try branch.replica.create(opinionBody("村口路灯不亮"), unitID: server.taiping)
    try branch.replica.update(Array(early.recordID), fields: ["note"], from: memberBody("王建国", note: "流动党员"))
    #expect(try await branch.engine.sync().pushed == 3)
    _ = try await county.engine.sync()  // the county's copy also went past the backup
    #expect(try county.replica.record(id: Array(member.recordID)) != nil)

    await server.stop()
    try await server.restore(from: backup)
    #expect(
      try await server.store.record(id: Array(member.recordID), actor: branch.actor) == nil, "the restore lost it")
    try await server.start()

    // The county issues a notice to the branch; its own sync notices the restore and heals.
    let notice = try county.replica.create(noticeBody("关于报送第四季度材料的通知", to: server.taiping), unitID: server.county)
    let countySync = try await county.engine.sync()
    #expect(countySync.healed)
    #expect(try countySync.held == 0 || county.replica.heldCount() == countySync.held)

    let branchSync = try await branch.engine.sync()
    #expect(branchSync.healed)
    #expect(branchSync.offeredAgain >= 3)

    // The server holds both records and the edit again; the branch holds the notice.
    let onServer = try await server.scope(of: branch.actor)
    #expect(onServer[member.recordID]?.body.member.name == "李秀英")
    #expect(onServer[opinion.recordID]?.body.opinion.content == "村口路灯不亮")
    #expect(onServer[early.recordID]?.body.member.note == "流动党员")
    #expect(try branch.replica.record(id: Array(notice.recordID))?.body.notice.title == "关于报送第四季度材料的通知")
    #expect(try snapshot(branch.replica) == snapshot(onServer))

    // The county now catches up with what the branch offered back, and verify is clean on both.
    _ = try await county.engine.sync()
    #expect(try county.replica.record(id: Array(member.recordID))?.body.member.name == "李秀英")
    for device in [branch, county] {
      let verify = try await device.engine.verify()
      #expect(verify.mismatchedTypes.isEmpty)
      #expect(verify.held == 0)
      #expect(try device.replica.heldCount() == 0)
      #expect(try device.replica.status().outbox == 0)
    }
    #expect(try snapshot(county.replica) == snapshot(try await server.scope(of: county.actor)))
  }

  @Test(
    "a restore, then two PCs heal in either order: the value accepted last stays everywhere, and no conflict says otherwise",
    arguments: [true, false])
  func healOrderKeepsTheLastValue(laterPCFirst: Bool) async throws {
    let server = try await TestServer()
    let a1 = try await server.device(unit: server.taiping, role: .branch)
    let a2 = try await server.device(unit: server.taiping, role: .branch)
    let member = try a1.replica.create(memberBody("王建国"), unitID: server.taiping)
    _ = try await a1.engine.sync()
    _ = try await a2.engine.sync()
    let backup = server.folder.appendingPathComponent("backup.sqlite").path
    _ = try await server.store.backup(to: backup)
    // After the backup: a1 changes the note twice; a2, having seen that, changes it last.
    let id = Array(member.recordID)
    try a1.replica.update(id, fields: ["note"], from: memberBody("王建国", note: "外出务工"))
    _ = try await a1.engine.sync()
    try a1.replica.update(id, fields: ["note"], from: memberBody("王建国", note: "在外地经商"))
    _ = try await a1.engine.sync()
    _ = try await a2.engine.sync()
    try a2.replica.update(id, fields: ["note"], from: memberBody("王建国", note: "已回村务农"))
    _ = try await a2.engine.sync()

    await server.stop()
    try await server.restore(from: backup)
    try await server.start()
    let order = laterPCFirst ? [a2, a1] : [a1, a2]
    for device in order + order { _ = try await device.engine.sync() }

    let stored = try await server.store.record(id: id, actor: a1.actor)
    #expect(stored?.body.member.note == "已回村务农", "the server: \(stored?.body.member.note ?? "nil")")
    for device in [a1, a2] {
      #expect(try device.replica.record(id: id)?.body.member.note == "已回村务农")
      for conflict in try device.replica.conflicts() where conflict.fields.contains("note") {
        #expect(conflict.winner.member.note == "已回村务农", "a conflict names as kept only what was kept")
      }
    }
  }

  @Test("accepted edits are kept for healing for 180 days, then forgotten with the personal data they carry")
  func sentRetention() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    _ = try branch.replica.create(memberBody("周小红"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    func kept() throws -> Int {
      try branch.replica.writer.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sent") ?? 0 }
    }
    #expect(try kept() == 1)
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    try branch.replica.markSynced(at: now + 179 * 86_400_000)
    #expect(try kept() == 1, "within the period: kept to heal a restored server")
    try branch.replica.markSynced(at: now + 181 * 86_400_000)
    #expect(try kept() == 0)
  }

  @Test("a county PC that pulled phones and notes before the server withheld them drops them, once")
  func withheldAfterUpgrade() async throws {
    let server = try await TestServer()
    let county = try await server.device(unit: server.county, role: .committee)
    let branch = try await server.device(unit: server.taiping, role: .branch)
    var full = memberBody("吴桂芳", note: "低保户，需帮扶")
    full.member.phone = "13807394321"
    var record = Orgsync_V1_Record()
    record.id = Data(RecordID.make())
    record.type = .member
    record.unitID = Data(server.taiping)
    record.version = 3
    record.body = full
    // As the county PC held it before: the whole record.
    for device in [county, branch] { try device.replica.repair(upserting: [record], removing: []) }
    #expect(try county.replica.dropWithheldPersonalData() == 1)
    let held = try #require(try county.replica.record(id: Array(record.id)))
    #expect(held.body.member.name == "吴桂芳")
    #expect(held.body.member.phone.isEmpty && held.body.member.note.isEmpty)
    #expect(try county.replica.dropWithheldPersonalData() == 0, "once")
    // The branch keeps its own people whole.
    #expect(try branch.replica.dropWithheldPersonalData() == 0)
    #expect(try branch.replica.record(id: Array(record.id))?.body.member.phone == "13807394321")
  }

  @Test("a power cut that loses the server's WAL: the tail comes back from the branch")
  func lostTail() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    try branch.replica.create(memberBody("赵德明"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    try await server.store.checkpoint()
    let checkpointed = try Data(contentsOf: URL(fileURLWithPath: server.databasePath))

    let late = try branch.replica.create(opinionBody("希望修一座桥"), unitID: server.taiping)
    #expect(try await branch.engine.sync().pushed == 1)

    // The files as they were at the last checkpoint: the main file then, no WAL.
    await server.stop()
    try server.closeStore()
    for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: server.databasePath + suffix) }
    try checkpointed.write(to: URL(fileURLWithPath: server.databasePath))
    try server.reopen()
    #expect(try await server.store.record(id: Array(late.recordID), actor: branch.actor) == nil)
    try await server.start()

    // Another device writes first, reusing sequence numbers a naive server would issue again.
    let neighbour = try await server.device(unit: server.taiping, role: .branch)
    let other = try neighbour.replica.create(opinionBody("垃圾清运不及时"), unitID: server.taiping)
    _ = try await neighbour.engine.sync()

    let report = try await branch.engine.sync()
    #expect(report.healed, "the branch notices its position is past the server's log")
    let onServer = try await server.scope(of: branch.actor)
    #expect(onServer[late.recordID]?.body.opinion.content == "希望修一座桥")
    #expect(try branch.replica.record(id: Array(other.recordID)) != nil, "and skips nothing written since")
    #expect(try snapshot(branch.replica) == snapshot(onServer))
  }

  @Test("sequence numbers of a lost tail are never issued again")
  func noReissue() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    try branch.replica.create(memberBody("孙立"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    let backup = server.folder.appendingPathComponent("b.sqlite").path
    _ = try await server.store.backup(to: backup)
    try branch.replica.create(memberBody("周敏"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    let lostCursor = try LogPosition.decode(try branch.replica.cursor())!
    await server.stop()
    try await server.restore(from: backup)
    let writer = try await server.device(unit: server.xinmin, role: .branch)
    try writer.replica.create(memberBody("吴刚"), unitID: server.xinmin)
    try await server.start()
    _ = try await writer.engine.sync()
    let newCursor = try LogPosition.decode(try writer.replica.cursor())!
    #expect(newCursor.seq > lostCursor.seq)
    #expect(newCursor.history != lostCursor.history)
    #expect(try await server.store.holds(position: lostCursor.bytes) == false)
  }

  @Test("verify after a restore heals first; the record is back on the server and here")
  func verifyAfterRestore() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    let backup = server.folder.appendingPathComponent("b.sqlite").path
    _ = try await server.store.backup(to: backup)
    let member = try branch.replica.create(memberBody("钱进"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    await server.stop()
    try await server.restore(from: backup)
    try await server.start()
    let report = try await branch.engine.verify()
    #expect(report.healed)
    #expect(report.mismatchedTypes.isEmpty)
    #expect(try await server.store.record(id: Array(member.recordID), actor: branch.actor) != nil)
    #expect(try branch.replica.record(id: Array(member.recordID))?.body.member.name == "钱进")
  }

  @Test("verify keeps aside, never deletes, a record the server lacks")
  func verifyKeepsAside() async throws {
    let server = try await TestServer()
    let county = try await server.device(unit: server.county, role: .committee)
    let branch = try await server.device(unit: server.taiping, role: .branch)
    let notice = try county.replica.create(noticeBody("通知", to: server.taiping), unitID: server.county)
    _ = try await county.engine.sync()
    _ = try await branch.engine.sync()
    #expect(try branch.replica.record(id: Array(notice.recordID)) != nil)
    // The server loses the row behind everyone's back (a hand edit of the file).
    await server.stop()
    try server.closeStore()
    let queue = try DatabaseQueue(path: server.databasePath)
    try await queue.write { db in
      for table in ["records", "scope_index", "down_index"] {
        try db.execute(
          sql: "DELETE FROM \(table) WHERE \(table == "records" ? "id" : "record_id") = ?", arguments: [notice.recordID]
        )
      }
    }
    try queue.close()
    try server.reopen()
    try await server.start()
    let report = try await branch.engine.verify()
    #expect(report.held == 1)
    #expect(report.removed == 0)
    #expect(try branch.replica.heldCount() == 1)
    let kept = try branch.replica.heldRecords()
    #expect(kept.map(\.id) == [Array(notice.recordID)])
    #expect(kept.first?.body.notice.title == "通知", "kept with its fields")
  }

  @Test("a data file written before records were sealed is sealed on its first opening, queued edits and all")
  func sealsAnOldReplica() async throws {
    let server = try await TestServer()
    let path = server.folder.appendingPathComponent("old.sqlite").path
    // As an earlier release left it: bodies and queued edits in the clear, in the file and
    // in the edit journal.
    var m = Orgsync_V1_Mutation()
    m.mutationID = Data(RecordID.make())
    m.recordID = Data(RecordID.make())
    m.unitID = Data(server.taiping)
    m.type = .member
    m.body = memberBody("龙小云", note: "13700001111")
    m.hlc = 1
    let mutation = m
    let secret = (0..<32).map { _ in UInt8.random(in: 0...255) }
    do {
      let old = try DatabaseQueue(path: path)
      try Replica.migrator.migrate(old)
      try await old.write { db in
        try db.execute(
          sql: "INSERT INTO outbox (mutation_id, record_id, mutation) VALUES (?, ?, ?)",
          arguments: [mutation.mutationID, mutation.recordID, try mutation.serializedBytes() as Data])
        try db.execute(
          sql: "INSERT INTO records (id, type, unit_id, version, body, pending) VALUES (?, ?, ?, 0, ?, 1)",
          arguments: [
            mutation.recordID, mutation.type.rawValue, mutation.unitID, Data(RecordKinds.bytes(of: mutation.body)),
          ])
        for (key, value) in [
          ("server", "127.0.0.1:1" as any DatabaseValueConvertible), ("device_id", Data(repeating: 7, count: 16)),
          ("secret", Data(secret)), ("unit_id", Data(server.taiping)), ("role", 1),
        ] {
          try db.execute(sql: "INSERT INTO state (key, value) VALUES (?, ?)", arguments: [key, value])
        }
      }
      try old.close()
      try OutboxJournal(path: Replica.journalPath(path)).append([try m.serializedBytes()])
    }
    func clearCopies() -> [String] {
      ["", "-wal", Replica.journalPath("")].filter { suffix in
        FileManager.default.contents(atPath: path + suffix)?.range(of: Data("龙小云".utf8)) != nil
      }
    }
    #expect(clearCopies() == ["", ".outbox-journal"], "the search finds the clear copies")

    let replica = try Replica(path: path, key: testKey(path))
    #expect(try replica.records(type: .member).map(\.body.member.name) == ["龙小云"])
    #expect(try replica.status().outbox == 1)
    #expect(clearCopies().isEmpty, "no clear copy left in the file, its WAL or the journal")
    #expect(try replica.identity()?.secret == secret, "the enrolment is kept")
    for suffix in ["", "-wal", ".identity"] {
      let bytes = FileManager.default.contents(atPath: path + suffix) ?? Data()
      #expect(
        bytes.range(of: Data(secret)) == nil && !String(decoding: bytes, as: UTF8.self).contains(Replica.hex(secret)),
        "the device secret is sealed too (\(suffix))")
    }
    let salvage = Replica.salvage(path: path, key: testKey(path))
    #expect(salvage.queued.map(\.mutationID) == [m.mutationID], "the sealed journal still reads back")
    #expect(throws: ReplicaError.self, "another key does not open it") {
      try Replica(path: path, key: .random())
    }
  }

  enum Damage: CaseIterable { case zeroedHeader, truncated }

  @Test("a damaged replica is rebuilt with its enrolment and every queued edit", arguments: Damage.allCases)
  func recoverDamaged(_ damage: Damage) async throws {
    let server = try await TestServer()
    let path = server.folder.appendingPathComponent("branch.sqlite").path
    var queued: [Data] = []
    do {
      let branch = try await server.device(unit: server.taiping, role: .branch, replicaPath: path)
      for i in 0..<200 { try branch.replica.create(opinionBody("群众意见\(i)"), unitID: server.taiping) }
      _ = try await branch.engine.sync()
      for name in ["冯雪", "陈亮"] {
        queued.append(try branch.replica.create(memberBody(name), unitID: server.taiping).recordID)
      }
      try branch.replica.close()
    }
    // Closed: the WAL was checkpointed into the file. Damage the file alone.
    for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    switch damage {
    case .zeroedHeader:
      try handle.write(contentsOf: Data(count: 100))
    case .truncated:
      try handle.truncate(atOffset: try handle.seekToEnd() / 2)
    }
    try handle.close()
    // Opening or reading the damaged file fails as damage (the CLI turns it into exit 74).
    #expect {
      let replica = try Replica(path: path, key: testKey(path))
      _ = try replica.records()
      if let problem = try replica.integrityProblem() { throw ReplicaDamaged(path: path, detail: problem) }
    } throws: { error in
      error is ReplicaDamaged || ReplicaDamaged.isDamage(error)
    }

    let (salvage, aside) = try Replica.recover(path: path, key: testKey(path))
    #expect(salvage.identity != nil)
    #expect(Set(salvage.queued.map(\.recordID)).isSuperset(of: queued))
    #expect(FileManager.default.fileExists(atPath: aside), "the damaged file is set aside, not deleted")
    let replica = try Replica(path: path, key: testKey(path))
    #expect(try replica.status().outbox >= 2)
    let engine = try server.engine(for: replica)
    _ = try await engine.sync()
    let actor = Actor(
      deviceID: try #require(try replica.identity()).deviceID, unitID: server.taiping, role: .branch)
    let onServer = try await server.scope(of: actor)
    for id in queued { #expect(onServer[id] != nil, "the queued edit reached the server") }
    #expect(onServer.values.filter { $0.type == .opinion }.count == 200)
    #expect(try snapshot(replica) == snapshot(onServer))
  }
}

/// Log lines kept in memory, for tests that check what the server logged.
final class CapturedLog: LogHandler, @unchecked Sendable {
  private let lock = NSLock()
  private var lines: [String] = []
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .info

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
    lock.withLock { lines.append("\(event.level) \(event.message) \(fields)") }
  }

  var text: [String] { lock.withLock { lines } }
}

@Suite("Server failures are never silent")
struct ServerFailureTests {
  @Test("a push on a full database: the device sees an error id and the server logs the cause under it")
  func fullDisk() async throws {
    let server = try await TestServer()
    let captured = CapturedLog()
    server.logger = Logger(label: "test") { _ in captured }
    await server.stop()
    try await server.start()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    _ = try await branch.engine.sync()
    // The database may not grow: the next write fails as on a full disk.
    try await server.store.limitSize()
    // A report with a long body needs new pages.
    var report = reportBody(.draft)
    report.report.body = String(repeating: "本季度支部工作总结。", count: 8000)
    try branch.replica.create(report, unitID: server.taiping)
    let error = await #expect(throws: RPCError.self) { try await branch.engine.sync() }
    #expect(error?.code == .internal)
    let message = error?.message ?? ""
    let id = try #require(message.range(of: "error id ").map { message[$0.upperBound...].prefix { $0.isHexDigit } })
    #expect(!id.isEmpty, "\(message)")
    #expect(
      captured.text.contains { $0.contains("call failed") && $0.contains("error_id=\(id)") && $0.contains("full") },
      "\(captured.text.filter { $0.contains("error") })")
    #expect(try branch.replica.status().outbox == 1, "the edit stays queued")
  }
}

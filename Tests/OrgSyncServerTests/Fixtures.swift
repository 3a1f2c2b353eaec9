import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// A small county: 邵东县委 → 廉桥镇党委 (太平村, 新民村) and 流光岭镇党委 (双凤村).
struct County {
  let store: any SQLRecordStore
  let county = RecordID.make()
  let lianqiao = RecordID.make()
  let liuguangling = RecordID.make()
  let taiping = RecordID.make()
  let xinmin = RecordID.make()
  let shuangfeng = RecordID.make()

  var countyCommittee: Actor { Actor(deviceID: Array("dev-county".utf8), unitID: county, role: .committee) }
  var lianqiaoCommittee: Actor { Actor(deviceID: Array("dev-lianqiao".utf8), unitID: lianqiao, role: .committee) }
  var taipingBranch: Actor { Actor(deviceID: Array("dev-taiping".utf8), unitID: taiping, role: .branch) }
  var xinminBranch: Actor { Actor(deviceID: Array("dev-xinmin".utf8), unitID: xinmin, role: .branch) }
  var shuangfengBranch: Actor { Actor(deviceID: Array("dev-shuangfeng".utf8), unitID: shuangfeng, role: .branch) }

  init(path: String? = nil, clock: @escaping @Sendable () -> Date = { Date() }) async throws {
    try await self.init(store: Self.makeStore(path: path, clock: clock))
  }

  /// The county's units imported into `store`.
  init(store: any SQLRecordStore) async throws {
    self.store = store
    let results = try await store.importUnits([
      (county, Self.unit("430521", "中共邵东县委员会", .county, .committee, parent: nil)),
      (lianqiao, Self.unit("430521-103", "中共廉桥镇委员会", .township, .committee, parent: county)),
      (liuguangling, Self.unit("430521-104", "中共流光岭镇委员会", .township, .committee, parent: county)),
      (taiping, Self.unit("430521-103-007", "太平村党支部", .grassroots, .branch, parent: lianqiao)),
      (xinmin, Self.unit("430521-103-008", "新民村党支部", .grassroots, .branch, parent: lianqiao)),
      (shuangfeng, Self.unit("430521-104-002", "双凤村党支部", .grassroots, .branch, parent: liuguangling)),
    ])
    for result in results { #expect(result.outcome == .applied, "\(result.reason)") }
  }

  /// The store under test: SQLite, or PostgreSQL in a fresh schema of its own when the test
  /// command names a cluster (`ORGSYNC_TEST_POSTGRES`): the same tests run against both.
  static func makeStore(path: String?, clock: @escaping @Sendable () -> Date) async throws -> any SQLRecordStore {
    if path == nil, let url = TestStore.postgresURL {
      return try await PostgresStore(url: TestStore.freshSchema(url), clock: clock)
    }
    return try SQLiteStore(path: path, clock: clock)
  }

  static func unit(
    _ code: String, _ name: String, _ level: Orgsync_V1_UnitLevel, _ kind: Orgsync_V1_UnitKind, parent: [UInt8]?
  ) -> Orgsync_V1_OrgUnit {
    var unit = Orgsync_V1_OrgUnit()
    unit.code = code
    unit.name = name
    unit.level = level
    unit.kind = kind
    unit.parentID = Data(parent ?? [])
    unit.secretary = "王建国"
    return unit
  }

  /// Pushes one mutation and returns its result.
  @discardableResult
  func push(_ mutation: Orgsync_V1_Mutation, as actor: Actor) async throws -> Orgsync_V1_MutationResult {
    try await store.push([mutation], actor: actor)[0]
  }

  /// Everything in `actor`'s scope after `cursor`, all pages.
  func pullAll(_ actor: Actor, from cursor: [UInt8] = [], pageSize: Int = 100) async throws -> (
    changes: [Orgsync_V1_Change], cursor: [UInt8], reset: Bool
  ) {
    var cursor = cursor
    var changes: [Orgsync_V1_Change] = []
    var reset = false
    while true {
      let page = try await store.pull(actor: actor, cursor: cursor, pageSize: pageSize)
      reset = reset || page.reset
      changes += page.changes
      cursor = Array(page.cursor)
      if !page.more { return (changes, cursor, reset) }
    }
  }
}

let testClock = HybridClock()

/// A mutation that creates a record.
func create(
  _ body: Orgsync_V1_RecordBody, id: [UInt8] = RecordID.make(), unit: [UInt8], hlc: UInt64? = nil
) -> Orgsync_V1_Mutation {
  var m = Orgsync_V1_Mutation()
  m.mutationID = Data(RecordID.make())
  m.recordID = Data(id)
  m.type = RecordKinds.type(of: body)
  m.unitID = Data(unit)
  m.body = body
  m.hlc = hlc ?? nextHLC()
  return m
}

/// A mutation that sets `fields` of a record from `body`, starting from `base`.
func edit(
  _ id: [UInt8], unit: [UInt8], base: Int64, fields: [String], _ body: Orgsync_V1_RecordBody, hlc: UInt64? = nil
) -> Orgsync_V1_Mutation {
  var m = create(body, id: id, unit: unit, hlc: hlc)
  m.baseVersion = base
  m.fields = fields
  return m
}

func nextHLC() -> UInt64 { testClock.now() }

func member(_ name: String, status: Orgsync_V1_MemberStatus = .full, cadre: Bool = false) -> Orgsync_V1_RecordBody {
  var m = Orgsync_V1_Member()
  m.name = name
  m.gender = .male
  m.status = status
  m.leadingCadre = cadre
  m.birthDate = CalendarDate.make(1975, 3, 12)
  var body = Orgsync_V1_RecordBody()
  body.member = m
  return body
}

func report(
  _ status: Orgsync_V1_ReportStatus, title: String = "2026年第三季度创先争优活动检查报告", comment: String = ""
) -> Orgsync_V1_RecordBody {
  var r = Orgsync_V1_Report()
  r.year = 2026
  r.period = .q3
  r.kind = .quarterlyCheck
  r.title = title
  r.body = "本季度共召开支部党员大会三次，走访群众四十二户。"
  r.status = status
  if status != .draft { r.submittedOn = CalendarDate.make(2026, 10, 8) }
  r.reviewerComment = comment
  var body = Orgsync_V1_RecordBody()
  body.report = r
  return body
}

func notice(audience: [UInt8], title: String = "关于开展第三季度督促检查的通知") -> Orgsync_V1_RecordBody {
  var n = Orgsync_V1_Notice()
  n.audienceRootID = Data(audience)
  n.title = title
  n.body = "各党支部须于十月十五日前报送季度检查报告。"
  n.issuedOn = CalendarDate.make(2026, 9, 20)
  var body = Orgsync_V1_RecordBody()
  body.notice = n
  return body
}

func opinion(_ content: String = "村道年久失修，雨天泥泞难行。") -> Orgsync_V1_RecordBody {
  var o = Orgsync_V1_Opinion()
  o.source = .visit
  o.content = content
  o.date = CalendarDate.make(2026, 7, 3)
  o.category = .livelihood
  var body = Orgsync_V1_RecordBody()
  body.opinion = o
  return body
}

extension Array where Element == Orgsync_V1_Change {
  /// Ids of upserted, live records.
  var liveIDs: Set<Data> { Set(filter { $0.kind == .upsert && !$0.record.deleted }.map(\.record.id)) }
  var exitIDs: Set<Data> { Set(filter { $0.kind == .scopeExit }.map(\.record.id)) }
}

/// Which store the tests run against.
enum TestStore {
  /// The throwaway cluster the test command started (`Scripts/run-tests.sh`), if any.
  static var postgresURL: String? {
    ProcessInfo.processInfo.environment["ORGSYNC_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
  }

  static var kind: String { postgresURL == nil ? "SQLite" : "PostgreSQL" }

  /// The cluster's database with a new schema of its own.
  static func freshSchema(_ url: String) -> String {
    url + (url.contains("?") ? "&" : "?") + "schema=t_"
      + UUID().uuidString.replacingOccurrences(of: "-", with: "")
      .lowercased()
  }
}

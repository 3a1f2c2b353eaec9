import Foundation
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import Testing

/// Every method answers a village device from its own branch only. Each test first shows the
/// sibling's data exists (the county device sees it over the same wire), so a method that
/// ignored scope would fail here.
@Suite("Scope on every method, over the wire")
struct ScopeOverWireTests {
  /// 新民村 has a member and an open conflict; 太平村 has a member of its own.
  struct Scene {
    let sibling: Orgsync_V1_Mutation
    let own: Orgsync_V1_Mutation
    let conflictID: Data
  }

  static func scene(_ county: County) async throws -> Scene {
    let sibling = create(member("宋玉"), unit: county.xinmin)
    try await county.push(sibling, as: county.xinminBranch)
    let own = create(member("屈原"), unit: county.taiping)
    try await county.push(own, as: county.taipingBranch)
    // Two devices of 新民村 edit the same field from the same base: a conflict in 新民村.
    var a = member("宋玉")
    a.member.cadreTitle = "村委会主任"
    var b = member("宋玉")
    b.member.cadreTitle = "村支部书记"
    let late = nextHLC()
    try await county.push(
      edit(Array(sibling.recordID), unit: county.xinmin, base: 1, fields: ["cadre_title"], a, hlc: nextHLC()),
      as: county.xinminBranch)
    let laptop = Actor(deviceID: Array("dev-xinmin-laptop".utf8), unitID: county.xinmin, role: .branch)
    let result = try await county.push(
      edit(Array(sibling.recordID), unit: county.xinmin, base: 1, fields: ["cadre_title"], b, hlc: late - 1),
      as: laptop)
    #expect(result.outcome == .conflict)
    return Scene(sibling: sibling, own: own, conflictID: try #require(result.conflictIds.first))
  }

  /// The village device and the county device, both enrolled over the wire.
  static func devices(_ county: County, port: Int) async throws -> (village: RPCClient, countyDevice: RPCClient) {
    let (village, _) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
    let (countyDevice, _) = try await enrolledClient(county, port: port, unit: county.county, role: .committee)
    return (village, countyDevice)
  }

  static func pulledIDs(_ client: RPCClient) async throws -> Set<Data> {
    try await client.serverStreaming(SyncAPI.pull, Orgsync_V1_PullRequest()) { pages in
      var ids = Set<Data>()
      for try await page in pages { ids.formUnion(page.changes.map(\.record.id)) }
      return ids
    }
  }

  @Test("Pull: the sibling village's member never arrives")
  func pull() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      #expect(try await Self.pulledIDs(countyDevice).contains(scene.sibling.recordID))
      let ids = try await Self.pulledIDs(village)
      #expect(ids.contains(scene.own.recordID))
      #expect(!ids.contains(scene.sibling.recordID))
    }
  }

  @Test("Fetch: asking for the sibling's record by id returns only the village's own")
  func fetch() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      var request = Orgsync_V1_FetchRequest()
      request.ids = [scene.sibling.recordID, scene.own.recordID]
      #expect(try await countyDevice.unary(SyncAPI.fetch, request).records.count == 2)
      let records = try await village.unary(SyncAPI.fetch, request).records
      #expect(records.map(\.id) == [scene.own.recordID])
    }
  }

  @Test("History: the village gets none for the sibling's record; the county sees who changed which field")
  func history() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      var request = Orgsync_V1_HistoryRequest()
      request.recordID = scene.sibling.recordID
      let seen = try await countyDevice.unary(SyncAPI.history, request).entries
      #expect(seen.map(\.action).prefix(2) == ["create", "update"], "\(seen.map(\.action))")
      #expect(seen.dropFirst().first?.fields == ["cadre_title"], "the field, never its value")
      #expect(seen.allSatisfy { Array($0.unitID) == county.xinmin || $0.unitID.isEmpty })
      #expect(try await village.unary(SyncAPI.history, request).entries.isEmpty)
      request.recordID = scene.own.recordID
      let own = try await village.unary(SyncAPI.history, request).entries
      #expect(own.map(\.action) == ["create"])
      request.recordID = Data([1, 2, 3])
      await #expect(throws: RPCError.self) { try await village.unary(SyncAPI.history, request) }
    }
  }

  @Test("Versions: the sibling's ids are not listed")
  func versions() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      var request = Orgsync_V1_VersionsRequest()
      request.type = .member
      func ids(_ client: RPCClient) async throws -> Set<Data> {
        try await client.serverStreaming(SyncAPI.versions, request) { pages in
          var ids = Set<Data>()
          for try await page in pages { ids.formUnion(page.ids) }
          return ids
        }
      }
      #expect(try await ids(countyDevice).contains(scene.sibling.recordID))
      let villageIDs = try await ids(village)
      #expect(villageIDs == [scene.own.recordID])
    }
  }

  @Test("Digest: the village's counts are its own")
  func digest() async throws {
    try await withCountyServer { county, port in
      _ = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      var request = Orgsync_V1_DigestRequest()
      request.types = [.member]
      let all = try await countyDevice.unary(SyncAPI.digest, request)
      let own = try await village.unary(SyncAPI.digest, request)
      #expect(all.types.first?.count == 2)
      #expect(own.types.first?.count == 1)
    }
  }

  @Test("RollUp: a sibling village's roll-up is PERMISSION_DENIED; its own is served")
  func rollUp() async throws {
    try await withCountyServer { county, port in
      _ = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      var request = Orgsync_V1_RollUpRequest()
      request.unitID = Data(county.xinmin)
      request.year = 2026
      request.period = .year
      _ = try await countyDevice.unary(SyncAPI.rollUp, request)
      let error = await #expect(throws: RPCError.self) { try await village.unary(SyncAPI.rollUp, request) }
      #expect(error?.code == .permissionDenied)
      request.unitID = Data(county.taiping)
      _ = try await village.unary(SyncAPI.rollUp, request)
    }
  }

  @Test("Conflicts and ResolveConflict: the sibling's conflict is neither listed nor resolvable")
  func conflicts() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, countyDevice) = try await Self.devices(county, port: port)
      let listed = try await countyDevice.unary(SyncAPI.conflicts, Orgsync_V1_ConflictsRequest()).conflicts
      #expect(listed.map(\.id).contains(scene.conflictID))
      #expect(try await village.unary(SyncAPI.conflicts, Orgsync_V1_ConflictsRequest()).conflicts.isEmpty)
      var resolve = Orgsync_V1_ResolveConflictRequest()
      resolve.conflictID = scene.conflictID
      resolve.resolvedByMutationID = scene.own.mutationID
      let error = await #expect(throws: RPCError.self) { try await village.unary(SyncAPI.resolveConflict, resolve) }
      #expect(error?.code == .notFound)
      let still = try await county.store.conflicts(actor: county.countyCommittee, includeResolved: false, limit: 10)
      #expect(still.map(\.id).contains(scene.conflictID), "the conflict is still open")
    }
  }

  @Test("Push: writing into the sibling village or upward into the township is refused and changes nothing")
  func push() async throws {
    try await withCountyServer { county, port in
      let scene = try await Self.scene(county)
      let (village, _) = try await Self.devices(county, port: port)
      var renamed = member("改名")
      renamed.member.name = "改名"
      var push = Orgsync_V1_PushRequest()
      push.mutations = [
        edit(Array(scene.sibling.recordID), unit: county.xinmin, base: 2, fields: ["name"], renamed),
        create(member("镇里的人"), unit: county.lianqiao),
        create(member("县里的人"), unit: county.county),
      ]
      let results = try await village.unary(SyncAPI.push, push).results
      #expect(results.map(\.outcome) == [.rejected, .rejected, .rejected])
      #expect(results.allSatisfy { $0.rejectCode == .permission })
      let sibling = try await county.store.record(id: Array(scene.sibling.recordID), actor: county.countyCommittee)
      #expect(sibling?.body.member.name == "宋玉")
      for mutation in push.mutations.dropFirst() {
        #expect(try await county.store.record(id: Array(mutation.recordID), actor: county.countyCommittee) == nil)
      }
    }
  }
}

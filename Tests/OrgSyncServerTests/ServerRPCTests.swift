import Foundation
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncServer
import OrgSyncStore
import Synchronization
import Testing

/// A clock the tests move by hand.
final class TestClock: Sendable {
  let offset = Mutex<TimeInterval>(0)
  func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
  func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}

/// The county behind a real server on 127.0.0.1.
func withCountyServer<R: Sendable>(
  clock: TestClock = TestClock(), _ body: (County, Int) async throws -> R
) async throws -> R {
  let county = try await County(clock: { clock.now() })
  let shared = FairShareStore(county.store)
  return try await withRPCServer(
    configuration: .init(authenticator: DeviceAuthenticator(store: shared)),
    services: [SyncService(store: shared), EnrollmentService(store: shared)]
  ) { _, address in
    try await body(county, address.port!)
  }
}

/// Enrols a device over the wire and returns a client that presents it.
func enrolledClient(_ county: County, port: Int, unit: [UInt8], role: Orgsync_V1_DeviceRole) async throws -> (
  RPCClient, Orgsync_V1_EnrollResponse
) {
  let code = try await county.store.makeEnrollmentCode(unitID: unit, role: role, validSeconds: 3600)
  let anonymous = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(120)))
  var request = Orgsync_V1_EnrollRequest()
  request.code = code
  request.deviceName = "太平村党支部办公室电脑"
  let enrolled = try await anonymous.unary(EnrollmentAPI.enroll, request)
  await anonymous.close()
  let client = try RPCClient(
    configuration: .init(
      host: "127.0.0.1", port: port,
      identity: ClientIdentity(deviceID: Array(enrolled.deviceID), secret: Array(enrolled.secret)),
      connectTimeout: .seconds(120)))
  return (client, enrolled)
}

@Suite("Server over the wire")
struct ServerRPCTests {
  @Test("a device enrols with a one-time code, then pushes and pulls as its unit")
  func enrolPushPull() async throws {
    try await withCountyServer { county, port in
      let (client, enrolled) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
      #expect(enrolled.unitName == "太平村党支部")
      #expect(enrolled.secret.count == 32)
      let me = try await client.unary(SyncAPI.whoAmI, Orgsync_V1_WhoAmIRequest())
      #expect(me.unitID == Data(county.taiping))
      #expect(me.role == .branch)

      var push = Orgsync_V1_PushRequest()
      push.mutations = [create(member("屈原"), unit: county.taiping), create(member("宋玉"), unit: county.xinmin)]
      let results = try await client.unary(SyncAPI.push, push).results
      #expect(results.map(\.outcome) == [.applied, .rejected])
      #expect(results[1].rejectCode == .permission)

      var pull = Orgsync_V1_PullRequest()
      pull.pageSize = 2
      let pages = try await client.serverStreaming(SyncAPI.pull, pull) { pages in
        var all: [Orgsync_V1_PullPage] = []
        for try await page in pages { all.append(page) }
        return all
      }
      #expect(pages.count > 1)
      #expect(pages.last?.more == false)
      let ids = Set(pages.flatMap(\.changes).map(\.record.id))
      #expect(ids.contains(push.mutations[0].recordID))
      #expect(!ids.contains(push.mutations[1].recordID))
      await client.close()
    }
  }

  @Test("an enrolment code works once")
  func codeReuse() async throws {
    try await withCountyServer { county, port in
      let code = try await county.store.makeEnrollmentCode(unitID: county.taiping, role: .branch, validSeconds: 60)
      let anonymous = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(120)))
      var request = Orgsync_V1_EnrollRequest()
      request.code = code.lowercased()  // typed by hand: case and dashes do not matter
      request.deviceName = "办公室电脑"
      _ = try await anonymous.unary(EnrollmentAPI.enroll, request)
      let error = await #expect(throws: RPCError.self) { try await anonymous.unary(EnrollmentAPI.enroll, request) }
      #expect(error?.code == .unauthenticated)
      #expect(try await county.store.devices().count == 1)
      await anonymous.close()
    }
  }

  @Test("an expired enrolment code is refused")
  func codeExpiry() async throws {
    let clock = TestClock()
    try await withCountyServer(clock: clock) { county, port in
      let code = try await county.store.makeEnrollmentCode(unitID: county.taiping, role: .branch, validSeconds: 600)
      clock.advance(601)
      let anonymous = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(120)))
      var request = Orgsync_V1_EnrollRequest()
      request.code = code
      request.deviceName = "办公室电脑"
      let error = await #expect(throws: RPCError.self) { try await anonymous.unary(EnrollmentAPI.enroll, request) }
      #expect(error?.code == .unauthenticated)
      #expect(try await county.store.devices().isEmpty)
      await anonymous.close()
    }
  }

  @Test("a revoked device is refused, even on a connection it already has")
  func revoked() async throws {
    try await withCountyServer { county, port in
      let (client, enrolled) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
      _ = try await client.unary(SyncAPI.whoAmI, Orgsync_V1_WhoAmIRequest())
      try await county.store.revokeDevice(id: Array(enrolled.deviceID))
      let onOpen = await #expect(throws: RPCError.self) {
        try await client.unary(SyncAPI.whoAmI, Orgsync_V1_WhoAmIRequest())
      }
      #expect(onOpen?.code == .unauthenticated)
      await client.close()
      let again = try RPCClient(
        configuration: .init(
          host: "127.0.0.1", port: port,
          identity: ClientIdentity(deviceID: Array(enrolled.deviceID), secret: Array(enrolled.secret)),
          connectTimeout: .seconds(120)))
      let fresh = await #expect(throws: RPCError.self) {
        try await again.unary(SyncAPI.whoAmI, Orgsync_V1_WhoAmIRequest())
      }
      #expect(fresh?.code == .unauthenticated)
    }
  }

  @Test("a wrong secret is UNAUTHENTICATED and changes nothing")
  func wrongSecret() async throws {
    try await withCountyServer { county, port in
      let (_, enrolled) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
      let impostor = try RPCClient(
        configuration: .init(
          host: "127.0.0.1", port: port,
          identity: ClientIdentity(deviceID: Array(enrolled.deviceID), secret: HelloProof.randomBytes()),
          connectTimeout: .seconds(120)))
      var push = Orgsync_V1_PushRequest()
      push.mutations = [create(member("冒名者"), unit: county.taiping)]
      let error = await #expect(throws: RPCError.self) { try await impostor.unary(SyncAPI.push, push) }
      #expect(error?.code == .unauthenticated)
      #expect(
        try await county.store.record(id: Array(push.mutations[0].recordID), actor: county.countyCommittee) == nil)
    }
  }

  @Test("an anonymous connection cannot push")
  func anonymousPush() async throws {
    try await withCountyServer { county, port in
      let anonymous = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, connectTimeout: .seconds(120)))
      var push = Orgsync_V1_PushRequest()
      push.mutations = [create(member("无名氏"), unit: county.taiping)]
      let error = await #expect(throws: RPCError.self) { try await anonymous.unary(SyncAPI.push, push) }
      #expect(error?.code == .unauthenticated)
      await anonymous.close()
    }
  }
}

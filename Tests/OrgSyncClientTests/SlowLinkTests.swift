import Foundation
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncTestSupport
import Testing

/// A first sync over a line so slow that the whole pull takes several times the call's
/// deadline: it finishes in one run, because the deadline bounds silence, not the transfer.
@Suite("A slow line")
struct SlowLinkTests {
  @Test("a pull longer than its deadline finishes in one sync over a shaped line, and the copy is whole")
  func slowPull() async throws {
    let server = try await TestServer()
    let writer = try await server.device(unit: server.taiping, role: .branch)
    for i in 0..<400 { try writer.replica.create(opinionBody("村民反映第\(i)条：村道年久失修，雨天泥泞难行。"), unitID: server.taiping) }
    _ = try await writer.engine.sync()

    // 3,000 bytes a second each way and 100 ms latency: a page of 20 opinions takes about a
    // second, the whole pull well over the 8-second deadline.
    let proxy = FaultyProxy(
      upstreamPort: server.port, seed: 3, faults: .init(bandwidth: 3_000, latency: .milliseconds(100)))
    let port = try await proxy.start()
    let timeout = Duration.seconds(8)
    var reader = try await server.device(unit: server.taiping, role: .branch, via: port, timeout: timeout)
    reader.engine.pageSize = 20
    let started = ContinuousClock.now
    let report = try await reader.engine.sync()
    let took = ContinuousClock.now - started
    #expect(took > timeout * 2, "the line is slow enough that one call could not carry it all (took \(took))")
    #expect(report.pulled >= 400)
    #expect(try snapshot(reader.replica) == snapshot(try await server.scope(of: reader.actor)))
    await proxy.stop()
  }
}

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
    // Text that does not compress away (the link compresses pages): ids as the people typed them.
    for i in 0..<400 {
      let text = "第\(i)条 " + (0..<4).map { _ in UUID().uuidString }.joined(separator: " ")
      try writer.replica.create(opinionBody(text), unitID: server.taiping)
    }
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

  @Test("pull pages go compressed: the line carries well under half the bytes it would without")
  func compressedPages() async throws {
    let server = try await TestServer()
    let writer = try await server.device(unit: server.taiping, role: .branch)
    let texts = ["村道年久失修，雨天泥泞难行。", "希望增加路灯，方便夜间出行。", "灌溉水渠堵塞，请组织清淤。", "建议村务公开更及时。"]
    for i in 0..<600 {
      try writer.replica.create(opinionBody("第\(i)条：" + texts[i % texts.count]), unitID: server.taiping)
    }
    _ = try await writer.engine.sync()
    var bytes: [Bool: Int] = [:]
    for compression in [true, false] {
      let proxy = FaultyProxy(upstreamPort: server.port, seed: 5)
      let port = try await proxy.start()
      var reader = try await server.device(unit: server.taiping, role: .branch, via: port, compression: compression)
      reader.engine.pageSize = 1000
      _ = try await reader.engine.sync()
      #expect(try snapshot(reader.replica) == snapshot(try await server.scope(of: reader.actor)))
      bytes[compression] = proxy.bytesToClients
      await proxy.stop()
    }
    let on = try #require(bytes[true])
    let off = try #require(bytes[false])
    #expect(on * 2 < off, "compressed \(on) bytes, plain \(off) bytes for 600 records")
  }
}

import Foundation
import NIOCore
import NIOPosix
import OrgSyncProto
import OrgSyncRPC
import OrgSyncWire
import Synchronization
import Testing

/// Polls `condition` up to `attempts` times, 10 ms apart: for state that another thread
/// changes. Not a timing assertion: the bound (a minute) is only there so that a broken build
/// fails instead of hanging; a busy machine just takes longer.
func eventually(_ attempts: Int = 6000, _ condition: () async throws -> Bool) async rethrows -> Bool {
  for _ in 0..<attempts {
    if try await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return false
}

@Suite("Deadlines, cancellation, shutdown and reconnection")
struct LifecycleTests {
  @Test("a call past its deadline fails with DEADLINE_EXCEEDED and the server stops working on it")
  func deadline() async throws {
    try await withEchoServer { client, _, observations in
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(Echo.sleep, entry("slow", "60000"), options: CallOptions(timeout: .milliseconds(50)))
      }
      #expect(error?.code == .deadlineExceeded)
      #expect(await eventually { observations.cancelledHandlers.load(ordering: .relaxed) == 1 })
    }
  }

  @Test("a caller that cancels gets CANCELLED and the server's handler is cancelled too")
  func clientCancels() async throws {
    try await withEchoServer { client, _, observations in
      let task = Task { try await client.unary(Echo.sleep, entry("slow", "60000")) }
      #expect(await eventually { observations.startedHandlers.load(ordering: .relaxed) == 1 })
      task.cancel()
      let error = await #expect(throws: RPCError.self) { try await task.value }
      #expect(error?.code == .cancelled)
      #expect(await eventually { observations.cancelledHandlers.load(ordering: .relaxed) == 1 })
      // The connection is still good for the next call.
      let after = try await client.unary(Echo.unary, entry("after"))
      #expect(after.key == "after")
    }
  }

  @Test("a reader that leaves a server stream early cancels the server's work")
  func streamReaderLeaves() async throws {
    try await withEchoServer { client, _, observations in
      let first = try await client.serverStreaming(Echo.flood, entry("10", "1000000")) { responses in
        var iterator = responses.makeAsyncIterator()
        return try await iterator.next()
      }
      #expect(first != nil)
      let sent = await eventually {
        let before = observations.floodSent.load(ordering: .relaxed)
        try? await Task.sleep(for: .milliseconds(50))
        return observations.floodSent.load(ordering: .relaxed) == before
      }
      #expect(sent, "the server stopped producing")
      #expect(observations.floodSent.load(ordering: .relaxed) < 1_000_000)
    }
  }

  @Test("graceful shutdown lets a stream in flight finish, then refuses new calls")
  func shutdownMidStream() async throws {
    let observations = Observations()
    let server = RPCServer(
      configuration: .init(authenticator: testAuthenticator), services: [EchoService(observations: observations)])
    let serving = Task { try await server.run() }
    let port = try await server.localAddress().port!
    let client = try RPCClient(
      configuration: .init(host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
    let values = try await client.serverStreaming(Echo.expand, entry("k", "2000")) { responses in
      var values: [String] = []
      for try await response in responses {
        values.append(response.value)
        if values.count == 1 { server.beginGracefulShutdown() }
      }
      return values
    }
    #expect(values.count == 2000)
    try await serving.value
    let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.unary, entry("late")) }
    #expect(error?.code == .unavailable)
    await client.close()
  }

  @Test("connections opened and dropped while the server drains never keep it from stopping")
  func connectionsDuringDrain() async throws {
    for round in 0..<5 {
      let observations = Observations()
      var configuration = RPCServer.Configuration(authenticator: testAuthenticator)
      configuration.shutdownGracePeriod = .seconds(2)
      let server = RPCServer(configuration: configuration, services: [EchoService(observations: observations)])
      let serving = Task { try await server.run() }
      let port = try await server.localAddress().port!
      // A call in flight keeps the drain open while connections come and go around it.
      let client = try RPCClient(
        configuration: .init(host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
      let slow = Task { try await client.unary(Echo.sleep, entry("s", "1000")) }
      #expect(await eventually { observations.startedHandlers.load(ordering: .relaxed) == 1 })
      await withTaskGroup(of: Void.self) { group in
        for i in 0..<60 {
          group.addTask {
            // Connect, maybe send a preface, and drop at once: some land before the drain,
            // some while it closes the listener, some are accepted and closed before active.
            guard let peer = try? await RawPeer.connect(port: port) else { return }
            try? await peer.channel.executeThenClose { _, output in
              if i % 2 == 0 {
                var bytes = ByteBuffer()
                bytes.writePreface()
                try await output.write(bytes)
              }
            }
          }
          if i == 20 + round { group.addTask { server.beginGracefulShutdown() } }
        }
      }
      _ = try? await slow.value
      // run() returns: within the grace period plus a margin the server gives itself.
      try await serving.value
      #expect(server.connectionCount == 0)
      await client.close()
    }
  }

  @Test("the client reconnects once a restarted server is back")
  func reconnect() async throws {
    let observations = Observations()
    let first = RPCServer(
      configuration: .init(authenticator: testAuthenticator), services: [EchoService(observations: observations)])
    let firstRun = Task { try await first.run() }
    let port = try await first.localAddress().port!
    let client = try RPCClient(
      configuration: .init(
        host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout,
        backoff: .init(initial: .milliseconds(10), maximum: .milliseconds(50))))
    #expect(try await client.unary(Echo.unary, entry("one")).key == "one")
    first.beginGracefulShutdown()
    try await firstRun.value

    // Down: calls fail fast with UNAVAILABLE rather than hang.
    let down = await #expect(throws: RPCError.self) { try await client.unary(Echo.unary, entry("down")) }
    #expect(down?.code == .unavailable)

    let second = RPCServer(
      configuration: .init(port: port, authenticator: testAuthenticator),
      services: [EchoService(observations: observations)])
    let secondRun = Task { try await second.run() }
    _ = try await second.localAddress()
    let back = await eventually { (try? await client.unary(Echo.unary, entry("two")))?.key == "two" }
    #expect(back)
    await client.close()
    second.beginGracefulShutdown()
    try await secondRun.value
  }

  @Test("a call to a server that is not there fails with UNAVAILABLE")
  func serverDown() async throws {
    // A port that is bound but not listening: connections to it are refused, and no other test's
    // server can take it meanwhile (a port merely released could be handed out again at once).
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(fd >= 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    #expect(bound == 0)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    let port = Int(UInt16(bigEndian: address.sin_port))
    let client = try RPCClient(
      configuration: .init(host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
    let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.unary, entry("x")) }
    #expect(error?.code == .unavailable)
    #expect(error?.message.contains("cannot reach the server") == true)
  }
}

@Suite("Load and limits")
struct LoadTests {
  @Test("1,000 concurrent calls share one connection")
  func thousandCalls() async throws {
    var limits = ConnectionLimits.defaults
    limits.maxConcurrentStreams = 1000
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      client, server, _ in
      let keys = try await withThrowingTaskGroup(of: String.self) { group in
        for i in 0..<1000 {
          group.addTask { try await client.unary(Echo.unary, entry("单位\(i)")).key }
        }
        var keys = Set<String>()
        for try await key in group { keys.insert(key) }
        return keys
      }
      #expect(keys.count == 1000)
      #expect(keys.contains("单位999"))
      #expect(server.connectionCount == 1)
    }
  }

  @Test("256 callers on a connection that takes 10 calls at once all get their answers, in turn")
  func callersQueue() async throws {
    var limits = ConnectionLimits.defaults
    limits.maxConcurrentStreams = 10
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      client, server, observations in
      let answers = try await withThrowingTaskGroup(of: String.self) { group in
        for i in 0..<256 {
          group.addTask { try await client.unary(Echo.sleep, entry("叫\(i)", "20")).key }
        }
        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
      }
      #expect(answers.count == 256, "every caller got its own answer; none was refused")
      #expect(observations.startedHandlers.load(ordering: .relaxed) == 256)
      #expect(server.connectionCount == 1)
    }
  }

  @Test("a caller waiting for a slot can give up: its call never reaches the server; the others run")
  func queuedCallCancelled() async throws {
    var limits = ConnectionLimits.defaults
    limits.maxConcurrentStreams = 2
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      client, _, observations in
      // Two long calls hold both slots.
      let holders = (0..<2).map { i in Task { try await client.unary(Echo.sleep, entry("h\(i)", "600000")) } }
      #expect(await eventually { observations.startedHandlers.load(ordering: .relaxed) == 2 })
      let waiting = Task { try await client.unary(Echo.sleep, entry("w", "0")) }
      let timedOut = await #expect(throws: RPCError.self) {
        try await client.unary(Echo.sleep, entry("t", "0"), options: .init(timeout: .milliseconds(200)))
      }
      #expect(timedOut?.code == .deadlineExceeded, "a queued call's deadline counts while it waits")
      waiting.cancel()
      let cancelled = await #expect(throws: RPCError.self) { try await waiting.value }
      #expect(cancelled?.code == .cancelled)
      #expect(observations.startedHandlers.load(ordering: .relaxed) == 2, "neither queued call reached the server")
      for holder in holders { holder.cancel() }
      // The slots free up: later calls run.
      let after = try await client.unary(Echo.sleep, entry("after", "0"))
      #expect(after.key == "after")
    }
  }

  @Test("200 clients are served at once")
  func manyConnections() async throws {
    try await withEchoServer { _, server, _ in
      let port = try await server.localAddress().port!
      // Anonymous: one device may hold only a few connections (next test).
      let clients = try (0..<200).map { _ in
        try RPCClient(
          configuration: .init(host: "127.0.0.1", port: port, identity: nil, connectTimeout: testConnectTimeout))
      }
      let answered = try await withThrowingTaskGroup(of: Int.self) { group in
        for (i, client) in clients.enumerated() {
          group.addTask { try await client.unary(Echo.open, entry("\(i)")).key == "\(i)" ? 1 : 0 }
        }
        return try await group.reduce(0, +)
      }
      #expect(answered == 200)
      #expect(server.connectionCount == 200)
      for client in clients { await client.close() }
      #expect(await eventually { server.connectionCount == 0 })
    }
  }

  @Test("a device that opens a fifth connection loses its oldest; its calls still get through")
  func connectionsPerDevice() async throws {
    try await withEchoServer { first, server, _ in
      let port = try await server.localAddress().port!
      #expect(try await first.unary(Echo.unary, entry("first")).key == "first")
      let others = try (0..<4).map { _ in
        try RPCClient(
          configuration: .init(
            host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
      }
      for (i, client) in others.enumerated() {
        #expect(try await client.unary(Echo.unary, entry("\(i)")).key == "\(i)")
      }
      // The server kept the newest four; the first client's connection was closed…
      #expect(await eventually { server.connectionCount == 4 })
      // …and its next call simply connects again (closing the now-oldest).
      #expect(try await first.unary(Echo.unary, entry("again")).key == "again")
      #expect(await eventually { server.connectionCount == 4 })
      for client in others { await client.close() }
    }
  }

  @Test("requests piling up behind a device's running calls are bounded: the excess fail, the connection lives on")
  func inboundBound() async throws {
    var configuration = RPCServer.Configuration(authenticator: testAuthenticator)
    configuration.peerPolicy.maxHeldRequestBytes = 1 << 20
    try await withEchoServer(configuration: configuration) { client, _, observations in
      // Eight long calls take every running slot of this device.
      let holders = (0..<8).map { i in Task { try await client.unary(Echo.sleep, entry("h\(i)", "600000")) } }
      #expect(await eventually { observations.startedHandlers.load(ordering: .relaxed) == 8 })
      // Twenty more, ~200 KiB each, must wait: the server holds 1 MiB of them, refuses the rest.
      let big = String(repeating: "党", count: 70_000)
      let refusals = Tally()
      let waiting = (0..<20).map { _ in
        Task { () -> RPCError.Code in
          do {
            _ = try await client.unary(Echo.sleep, entry(big, "0"))
            return .ok
          } catch let error as RPCError {
            if error.code == .resourceExhausted { refusals.count.add(1, ordering: .relaxed) }
            return error.code
          } catch {
            return .unknown
          }
        }
      }
      #expect(
        await eventually { refusals.count.load(ordering: .relaxed) >= 10 }, "at most 1 MiB of 4 MiB waiting is held")
      #expect(observations.startedHandlers.load(ordering: .relaxed) == 8, "none of the waiting ones ran yet")
      for holder in holders { holder.cancel() }
      var codes: [RPCError.Code] = []
      for task in waiting { codes.append(await task.value) }
      #expect(
        codes.allSatisfy { $0 == .ok || $0 == .resourceExhausted }, "the held ones ran once slots freed: \(codes)")
      let after = try await client.unary(Echo.unary, entry("after"))
      #expect(after.key == "after", "the connection lives on")
    }
  }

  @Test("a message over the server's limit fails that call only")
  func oversizeMessage() async throws {
    var limits = ConnectionLimits.defaults
    limits.maxFrameSize = 64 * 1024
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      client, server, _ in
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(Echo.unary, entry(String(repeating: "大", count: 30_000)))
      }
      #expect(error?.code == .resourceExhausted)
      let after = try await client.unary(Echo.unary, entry("small"))
      #expect(after.key == "small")
      #expect(server.connectionCount == 1)
    }
  }

  @Test("a reader that stops reading does not make the server buffer without bound")
  func slowReaderBackpressure() async throws {
    try await withEchoServer { client, _, observations in
      let messageSize = 64 * 1024
      try await client.serverStreaming(Echo.flood, entry(String(messageSize), "10000")) { responses in
        var iterator = responses.makeAsyncIterator()
        _ = try await iterator.next()
        // Stop reading. The server may send at most one window (1 MiB) plus one message ahead.
        let settled = await eventually {
          let before = observations.floodSent.load(ordering: .relaxed)
          try? await Task.sleep(for: .milliseconds(100))
          return observations.floodSent.load(ordering: .relaxed) == before
        }
        #expect(settled)
        let sent = observations.floodSent.load(ordering: .relaxed)
        #expect(sent <= (1 << 20) / messageSize + 2, "server produced \(sent) messages of 64 KiB ahead of the reader")
        // Reading again resumes the stream.
        for _ in 0..<40 { _ = try await iterator.next() }
        #expect(observations.floodSent.load(ordering: .relaxed) > sent)
      }
    }
  }
}

final class Tally: Sendable {
  let count = Atomic<Int>(0)
}

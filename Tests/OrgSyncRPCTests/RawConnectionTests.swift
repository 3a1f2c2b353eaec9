import Foundation
import NIOCore
import NIOPosix
import OrgSyncProto
import OrgSyncWire
import Testing

@testable import OrgSyncRPC

/// A hand-driven TCP peer: sends exactly the bytes a test gives and reads what comes back, so
/// the server can be fed what no well-behaved client would send.
struct RawPeer {
  let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

  static func connect(port: Int) async throws -> RawPeer {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    return RawPeer(channel: channel)
  }

  /// Sends `bytes`, then reads until the server closes; returns the frames it sent.
  func exchange(_ bytes: ByteBuffer) async throws -> [Frame] {
    try await channel.executeThenClose { input, output in
      // The server may close first (it refused us, or timed us out on a busy machine); what it
      // sent before closing is still there to read.
      try? await output.write(bytes)
      var received = ByteBuffer()
      do {
        for try await chunk in input { received.writeImmutableBuffer(chunk) }
      } catch  where !received.readableBytesView.isEmpty {
        // A reset after the server's last frames: what arrived is the answer.
      }
      var parser = FrameParser()
      var frames: [Frame] = []
      while let event = try parser.next(from: &received) {
        if case .frame(let frame) = event { frames.append(frame) }
      }
      return frames
    }
  }
}

func helloFrame(_ buffer: inout ByteBuffer, identity: ClientIdentity? = nil) {
  var hello = Orgsync_V1_Hello()
  hello.major = 1
  buffer.writeFrame(type: .hello, streamID: 0) { $0.writeBytes(try! hello.serializedBytes() as [UInt8]) }
}

func goAway(in frames: [Frame]) -> Orgsync_V1_GoAway? {
  guard let frame = frames.last(where: { $0.type == .goAway }) else { return nil }
  return try? Orgsync_V1_GoAway(serializedBytes: Array(frame.payload.readableBytesView))
}

@Suite("Misbehaving peers")
struct RawConnectionTests {
  @Test("garbage after the preface gets GOAWAY and a close; other clients carry on")
  func garbageAfterPreface() async throws {
    try await withEchoServer { client, server, _ in
      let port = try await server.localAddress().port!
      let peer = try await RawPeer.connect(port: port)
      var bytes = ByteBuffer()
      bytes.writePreface()
      bytes.writeString("this is not a frame header, just text that goes on")
      let frames = try await peer.exchange(bytes)
      #expect(frames.first?.type == .challenge)
      let reason = goAway(in: frames)?.reason
      #expect(reason == .frameTooLarge || reason == .protocolError || reason == .badChecksum)
      let after = try await client.unary(Echo.unary, entry("still here"))
      #expect(after.key == "still here")
    }
  }

  @Test("a client that is not OrgSync is told and closed")
  func badPreface() async throws {
    try await withEchoServer { _, server, _ in
      let peer = try await RawPeer.connect(port: try await server.localAddress().port!)
      let frames = try await peer.exchange(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      #expect(goAway(in: frames)?.reason == .protocolError)
    }
  }

  @Test("a frame larger than the limit is refused from its header")
  func oversizeFrame() async throws {
    try await withEchoServer { _, server, _ in
      let peer = try await RawPeer.connect(port: try await server.localAddress().port!)
      var bytes = ByteBuffer()
      bytes.writePreface()
      helloFrame(&bytes)
      bytes.writeInteger(UInt32(1 << 30))  // claims a 1 GiB payload; none follows
      bytes.writeBytes([0x05, 0, 0, 0, 0, 1, 0, 0, 0, 0])
      let frames = try await peer.exchange(bytes)
      #expect(goAway(in: frames)?.reason == .frameTooLarge)
    }
  }

  @Test("a call before the hello is a protocol error")
  func callBeforeHello() async throws {
    try await withEchoServer { _, server, _ in
      let peer = try await RawPeer.connect(port: try await server.localAddress().port!)
      var bytes = ByteBuffer()
      bytes.writePreface()
      bytes.writeFrame(type: .headers, streamID: 1) { _ in }
      let frames = try await peer.exchange(bytes)
      #expect(goAway(in: frames)?.reason == .protocolError)
    }
  }

  @Test("a wrong proof is UNAUTHENTICATED")
  func wrongProof() async throws {
    try await withEchoServer { _, server, _ in
      let port = try await server.localAddress().port!
      let impostor = try RPCClient(
        configuration: .init(
          host: "127.0.0.1", port: port,
          identity: ClientIdentity(deviceID: testIdentity.deviceID, secret: HelloProof.randomBytes()),
          connectTimeout: testConnectTimeout))
      let error = await #expect(throws: RPCError.self) { try await impostor.unary(Echo.unary, entry("x")) }
      #expect(error?.code == .unauthenticated)
    }
  }

  @Test("an anonymous connection may call only methods open to it")
  func anonymous() async throws {
    try await withEchoServer { _, server, _ in
      let port = try await server.localAddress().port!
      let anonymous = try RPCClient(
        configuration: .init(host: "127.0.0.1", port: port, connectTimeout: testConnectTimeout))
      let refused = await #expect(throws: RPCError.self) { try await anonymous.unary(Echo.unary, entry("x")) }
      #expect(refused?.code == .unauthenticated)
      let open = try await anonymous.unary(Echo.open, entry("enrol"))
      #expect(open.key == "enrol")
      await anonymous.close()
    }
  }

  @Test("silent and preface-only connections are closed at the hello deadline, long before the idle timeout")
  func helloDeadline() async throws {
    var limits = ConnectionLimits.defaults
    limits.idleTimeout = .seconds(3600)
    limits.helloTimeout = .seconds(3)  // the preface goes out at once; the deadline is well after it
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      _, server, _ in
      let port = try await server.localAddress().port!
      var prefaceOnly = ByteBuffer()
      prefaceOnly.writePreface()
      for bytes in [ByteBuffer(), prefaceOnly] {
        let peer = try await RawPeer.connect(port: port)
        let frames = try await peer.exchange(bytes)  // returns once the server closed
        let goAway = goAway(in: frames)
        #expect(goAway?.reason == .idleTimeout)
        #expect(goAway?.message.contains("no hello") == true, "\(String(describing: goAway))")
      }
      #expect(await eventually { server.connectionCount <= 1 })
    }
  }

  @Test("silent connections from one address beyond its cap: the oldest is closed to make room, the newest admitted")
  func unauthenticatedCap() async throws {
    var configuration = RPCServer.Configuration(authenticator: testAuthenticator)
    configuration.peerPolicy.maxUnauthenticatedPerAddress = 5
    configuration.limits.helloTimeout = .seconds(3600)  // only the cap may close them here
    try await withEchoServer(configuration: configuration) { client, server, _ in
      let port = try await server.localAddress().port!
      // The echo client's own connection finished its hello: it does not count.
      _ = try await client.unary(Echo.unary, entry("warm"))
      var silent: [RawPeer] = []
      for _ in 0..<5 { silent.append(try await RawPeer.connect(port: port)) }
      #expect(await eventually { server.connectionCount == 6 })
      // A sixth: admitted (it is sent the preface and CHALLENGE), and the oldest silent one is
      // closed instead — it reads its end of stream.
      let sixth = try await RawPeer.connect(port: port)
      #expect(await eventually { server.unprovenConnections == 5 })
      let oldestFrames = try await silent[0].exchange(ByteBuffer())
      #expect(oldestFrames.contains { $0.type == .challenge }, "it had been challenged before it was closed")
      // A client whose connection is already past its hello carries on.
      #expect(try await client.unary(Echo.unary, entry("still")).key == "still")
      for peer in silent.dropFirst() + [sixth] { try await peer.channel.executeThenClose { _, _ in } }
      #expect(await eventually { server.connectionCount == 1 })
      let fresh = try RPCClient(
        configuration: .init(host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
      #expect(try await fresh.unary(Echo.unary, entry("new")).key == "new")
      await fresh.close()
    }
  }

  @Test("a half-open connection is closed by the idle timeout")
  func idleTimeout() async throws {
    var limits = ConnectionLimits.defaults
    // Long enough that the hello always arrives before it on a busy machine (if it did not, the
    // server would close before the peer wrote, and the peer's write would meet a reset).
    limits.idleTimeout = .seconds(15)
    try await withEchoServer(configuration: .init(limits: limits, authenticator: testAuthenticator)) {
      _, server, _ in
      let peer = try await RawPeer.connect(port: try await server.localAddress().port!)
      var bytes = ByteBuffer()
      bytes.writePreface()
      helloFrame(&bytes)
      // Then silence: the peer neither sends nor closes, like a client whose link died.
      let frames = try await peer.exchange(bytes)
      #expect(goAway(in: frames)?.reason == .idleTimeout)
      #expect(await eventually { server.connectionCount == 0 })
    }
  }
}

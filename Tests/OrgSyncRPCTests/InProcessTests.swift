import Logging
import NIOCore
import NIOEmbedded
import OrgSyncProto
import OrgSyncWire
import Testing

@testable import OrgSyncRPC

/// The server's connection handler on an in-memory channel: no sockets, frames in and out by
/// hand, so the router and the call state machine are checked frame by frame.
struct InProcessServer {
  let channel: NIOAsyncTestingChannel
  var parser = FrameParser()
  var received = ByteBuffer()

  init(services: [any RPCService], limits: ConnectionLimits = .defaults) async throws {
    let handler = ServerConnectionHandler(
      router: Router(services: services), limits: limits, authenticator: testAuthenticator,
      runHandlersOnEventLoop: true, logger: Logger(label: "test"), peerGuard: PeerGuard(policy: .defaults),
      countedBeforeHello: false, onClose: { _ in })
    channel = NIOAsyncTestingChannel()
    try await channel.pipeline.addHandler(ByteToMessageHandler(FrameDecoder()))
    try await channel.pipeline.addHandler(handler)
    try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
  }

  func send(_ build: (inout ByteBuffer) -> Void) async throws {
    var buffer = ByteBuffer()
    build(&buffer)
    try await channel.writeInbound(buffer)
  }

  /// Runs the loop until the server has written `count` frames more, and returns them.
  mutating func frames(_ count: Int) async throws -> [Frame] {
    var frames: [Frame] = []
    for _ in 0..<500 where frames.count < count {
      await channel.testingEventLoop.run()
      while let chunk = try await channel.readOutbound(as: ByteBuffer.self) { received.writeImmutableBuffer(chunk) }
      while let event = try parser.next(from: &received) {
        if case .frame(let frame) = event { frames.append(frame) }
      }
      if frames.count < count { try await Task.sleep(for: .milliseconds(2)) }
    }
    return frames
  }

  /// Preface and an authenticated HELLO; returns after HELLO_ACK.
  mutating func handshake() async throws {
    let challengeFrames = try await frames(1)
    let challenge = try Orgsync_V1_Challenge(serializedBytes: Array(challengeFrames[0].payload.readableBytesView))
    let clientNonce = HelloProof.randomBytes()
    var hello = Orgsync_V1_Hello()
    hello.major = 1
    hello.deviceID = .init(testIdentity.deviceID)
    hello.clientNonce = .init(clientNonce)
    hello.proof = .init(
      HelloProof.clientProof(
        secret: testIdentity.secret, serverNonce: Array(challenge.nonce), clientNonce: clientNonce,
        deviceID: testIdentity.deviceID))
    let payload: [UInt8] = try hello.serializedBytes()
    try await send {
      $0.writePreface()
      $0.writeFrame(type: .hello, streamID: 0) { $0.writeBytes(payload) }
    }
    let ack = try await frames(1)
    #expect(ack.first?.type == .helloAck)
  }

  func call(_ stream: UInt32, method: String, message: Entry?) async throws {
    var headers = Orgsync_V1_RequestHeaders()
    headers.method = method
    let headerBytes: [UInt8] = try headers.serializedBytes()
    let body: [UInt8]? = try message?.serializedBytes()
    try await send { buffer in
      buffer.writeFrame(type: .headers, streamID: stream) { $0.writeBytes(headerBytes) }
      if let body {
        buffer.writeFrame(type: .message, flags: .endStream, streamID: stream) { $0.writeBytes(body) }
      }
    }
  }
}

func trailers(_ frame: Frame?) -> Orgsync_V1_Trailers? {
  guard let frame, frame.type == .trailers else { return nil }
  return try? Orgsync_V1_Trailers(serializedBytes: Array(frame.payload.readableBytesView))
}

@Suite("Server connection, in process")
struct InProcessTests {
  @Test("the server speaks first: preface, then a challenge with a fresh nonce")
  func challengeFirst() async throws {
    var server = try await InProcessServer(services: [EchoService(observations: Observations())])
    let frames = try await server.frames(1)
    #expect(frames.first?.type == .challenge)
    let challenge = try Orgsync_V1_Challenge(serializedBytes: Array(frames[0].payload.readableBytesView))
    #expect(challenge.nonce.count == 32)
  }

  @Test("a unary call is routed to its handler: MESSAGE then TRAILERS OK on its stream")
  func routedUnary() async throws {
    var server = try await InProcessServer(services: [EchoService(observations: Observations())])
    try await server.handshake()
    try await server.call(1, method: Echo.unary.fullName, message: entry("党课"))
    let frames = try await server.frames(2)
    #expect(frames.map(\.type) == [.message, .trailers])
    #expect(frames.allSatisfy { $0.streamID == 1 })
    let response = try Entry(serializedBytes: Array(frames[0].payload.readableBytesView))
    #expect(response.key == "党课")
    #expect(trailers(frames.last)?.code == .ok)
  }

  @Test("an unknown method gets TRAILERS UNIMPLEMENTED without running anything")
  func unknownMethod() async throws {
    var server = try await InProcessServer(services: [EchoService(observations: Observations())])
    try await server.handshake()
    try await server.call(1, method: "/nope.Service/Nothing", message: entry("x"))
    let frames = try await server.frames(1)
    #expect(trailers(frames.first)?.code == .unimplemented)
  }

  @Test("a stream id that does not increase is a protocol error")
  func reusedStreamID() async throws {
    var server = try await InProcessServer(services: [EchoService(observations: Observations())])
    try await server.handshake()
    try await server.call(3, method: Echo.unary.fullName, message: entry("a"))
    _ = try await server.frames(2)
    try await server.call(1, method: Echo.unary.fullName, message: entry("b"))
    let frames = try await server.frames(1)
    #expect(frames.first?.type == .goAway)
    let goAway = try Orgsync_V1_GoAway(serializedBytes: Array(frames[0].payload.readableBytesView))
    #expect(goAway.reason == .protocolError)
    #expect(goAway.lastStreamID == 3)
  }

  @Test("frames for a call that has ended are dropped, not errors")
  func lateFrames() async throws {
    var server = try await InProcessServer(services: [EchoService(observations: Observations())])
    try await server.handshake()
    try await server.call(1, method: Echo.unary.fullName, message: entry("a"))
    _ = try await server.frames(2)
    try await server.send { $0.writeFrame(type: .cancel, streamID: 1) { _ in } }  // crossed the trailers
    try await server.call(3, method: Echo.unary.fullName, message: entry("b"))
    let frames = try await server.frames(2)
    #expect(frames.map(\.type) == [.message, .trailers])
  }

  @Test("a ping is answered with the same bytes")
  func ping() async throws {
    var server = try await InProcessServer(services: [])
    try await server.handshake()
    try await server.send { $0.writeFrame(type: .ping, streamID: 0) { $0.writeBytes([1, 2, 3, 4, 5, 6, 7, 8]) } }
    let frames = try await server.frames(1)
    #expect(frames.first?.type == .ping)
    #expect(frames.first?.flags.contains(.ack) == true)
    #expect(frames.first.map { Array($0.payload.readableBytesView) } == [1, 2, 3, 4, 5, 6, 7, 8])
  }
}

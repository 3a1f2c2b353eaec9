import Logging
import Metrics
import NIOCore
import OrgSyncProto
import OrgSyncWire

/// Serves one connection: handshake, call dispatch, flow control, deadlines, GOAWAY.
///
/// Everything here runs on the connection's event loop, and so do the call handlers (they are
/// tasks on an `EventLoopTaskExecutor` unless configured otherwise), so a small unary call is
/// decoded, handled and answered on one thread. Frames written while handling a read batch
/// are gathered in one buffer and flushed once.
///
/// The class is `@unchecked Sendable` because NIO hands it between its own APIs; what makes it
/// safe is that its state is touched only on its loop: entry points assert it
/// (`assertInEventLoop`), and handler tasks reach it again only through `NIOLoopBound`, which
/// checks the loop on every access. Streams hold it `unowned` (safe: the handler outlives them,
/// and a mistake traps instead of reading freed memory).
final class ServerConnectionHandler: ChannelInboundHandler, FrameOutput, @unchecked Sendable {
  typealias InboundIn = WireEvent
  typealias OutboundOut = ByteBuffer

  enum State {
    case awaitingPreface
    case awaitingHello
    case authenticating(pending: [Frame])
    case ready
    case closed
  }

  let router: Router
  let limits: ConnectionLimits
  let authenticator: any ConnectionAuthenticator
  let runHandlersOnEventLoop: Bool
  var logger: Logger
  let onClose: @Sendable (ObjectIdentifier) -> Void
  let peerGuard: PeerGuard

  var context: ChannelHandlerContext!
  var executor: EventLoopTaskExecutor!
  var state: State = .awaitingPreface
  var peer = PeerIdentity.anonymous
  var peerLimits = ConnectionLimits.defaults
  /// Whether MESSAGE payloads may go compressed, both ways (the client offered zlib).
  var compression = false
  let serverNonce = HelloProof.randomBytes()
  var streams: [UInt32: Stream] = [:]
  var highestStreamID: UInt32 = 0
  var draining = false
  /// Counted against the caps on connections that have not finished their hello.
  var countedBeforeHello: Bool
  var remoteAddress: SocketAddress?
  /// Request bytes received and not yet taken by a handler (calls waiting for a running slot
  /// hold theirs here). A message that would take it over `PeerPolicy.maxHeldRequestBytes`
  /// fails its call with RESOURCE_EXHAUSTED instead of being held. (Pausing the socket instead
  /// would also hold back the WINDOW_UPDATE a running call needs to finish: a deadlock.)
  var bufferedInbound = 0
  /// Handlers waiting for the socket to take more data (in arrival order).
  var writabilityWaiters = CircularBuffer<
    (stream: Stream, continuation: CheckedContinuation<Void, any Error>)
  >()
  var out = ByteBuffer()
  var flushScheduled = false

  init(
    router: Router, limits: ConnectionLimits, authenticator: any ConnectionAuthenticator,
    runHandlersOnEventLoop: Bool, logger: Logger, peerGuard: PeerGuard, countedBeforeHello: Bool,
    onClose: @escaping @Sendable (ObjectIdentifier) -> Void
  ) {
    self.peerGuard = peerGuard
    self.countedBeforeHello = countedBeforeHello
    self.router = router
    self.limits = limits
    self.authenticator = authenticator
    self.runHandlersOnEventLoop = runHandlersOnEventLoop
    self.logger = logger
    self.onClose = onClose
  }

  /// Number of calls in progress (for tests and metrics).
  var activeStreams: Int { streams.count }

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.remoteAddress = context.channel.remoteAddress
    self.executor = EventLoopTaskExecutor(context.eventLoop)
    out = context.channel.allocator.buffer(capacity: 1024)
    if context.channel.isActive { start() }
  }

  func channelActive(context: ChannelHandlerContext) {
    start()
    context.fireChannelActive()
  }

  private var started = false

  /// The handshake deadline (set by the server from the TCP accept) has passed: a connection
  /// that has not finished its hello — silent, TLS never started, half a preface, a hello
  /// still being checked — is told (when TLS is up) and closed.
  func handshakeDeadlinePassed() {
    switch state {
    case .awaitingPreface, .awaitingHello, .authenticating:
      logger.debug("closing a connection that did not finish its hello in time")
      goAwayAndClose(reason: .idleTimeout, message: "no hello within \(limits.helloTimeout)")
    default:
      break
    }
  }
  func start() {
    guard !started else { return }
    started = true
    out.writePreface()
    var challenge = Orgsync_V1_Challenge()
    challenge.major = UInt32(ProtocolVersion.current.major)
    challenge.minor = UInt32(ProtocolVersion.current.minor)
    challenge.nonce = .init(serverNonce)
    writeControl(.challenge, challenge)
    flushNow()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .preface:
      guard case .awaitingPreface = state else { return protocolError("a second preface") }
      state = .awaitingHello
    case .frame(let frame):
      handle(frame)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    flushNow()
    context.fireChannelReadComplete()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let wire = error as? WireError {
      logger.debug("closing connection on a wire error", metadata: ["error": "\(wire)"])
      goAwayAndClose(reason: Self.goAwayReason(for: wire.code), message: wire.message)
    } else {
      logger.debug("connection error", metadata: ["error": "\(error)"])
      context.close(promise: nil)
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
      logger.debug("closing an idle connection")
      goAwayAndClose(reason: .idleTimeout, message: "nothing received for \(limits.idleTimeout)")
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  func released(_ bytes: Int) {
    bufferedInbound -= bytes
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    wakeWritabilityWaiters()
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    state = .closed
    leaveHelloCount()
    if !peer.isAnonymous { peerGuard.detach(device: peer.deviceID, connection: ObjectIdentifier(self)) }
    let error = RPCError(code: .unavailable, message: "the connection closed")
    for stream in streams.values { abort(stream, error) }
    streams.removeAll()
    for waiter in writabilityWaiters { waiter.continuation.resume(throwing: error) }
    writabilityWaiters.removeAll()
    onClose(ObjectIdentifier(self))
    context.fireChannelInactive()
  }

  // MARK: Frames

  func handle(_ frame: Frame) {
    context.eventLoop.assertInEventLoop()
    switch state {
    case .awaitingPreface, .closed:
      return
    case .awaitingHello:
      guard frame.type == .hello else { return protocolError("the first frame must be HELLO, got \(frame.type)") }
      guard let hello = try? Orgsync_V1_Hello(buffer: frame.payload) else {
        return protocolError("HELLO does not decode")
      }
      if hello.major != UInt32(ProtocolVersion.current.major) {
        return goAwayAndClose(reason: .unsupportedVersion, message: "protocol major \(hello.major) is not spoken here")
      }
      peerLimits = ConnectionLimits(wire: hello.limits)
      compression = hello.compression.contains(MessageCompression.name)
      state = .authenticating(pending: [])
      let authenticator = self.authenticator
      let nonce = serverNonce
      let loop = context.eventLoop
      // Repeated wrong proofs for this device (or from this address, for many devices) are
      // spaced out; a queue of them too long to wait for is refused at once.
      guard let delay = peerGuard.delayBeforeAttempt(keys: helloKeys(Array(hello.deviceID))) else {
        Counter(label: "orgsync_guesses_refused_total").increment()
        return goAwayAndClose(
          reason: .unauthenticated, message: "too many wrong attempts for this device; try again in a few minutes")
      }
      if delay > .zero { Counter(label: "orgsync_guesses_delayed_total").increment() }
      // The handler is reached again only on its own loop (NIOLoopBound checks it).
      let handler = NIOLoopBound(self, eventLoop: loop)
      Task(executorPreference: executor) {
        if delay > .zero { try? await Task.sleep(for: delay) }
        let result = await authenticator.authenticate(hello: hello, serverNonce: nonce)
        loop.execute {
          handler.value.finishAuthentication(
            result, clientNonce: Array(hello.clientNonce), deviceID: Array(hello.deviceID))
        }
      }
    case .authenticating(var pending):
      guard pending.count < 1024 else { return protocolError("too many frames before the hello was answered") }
      let held = pending.reduce(frame.payload.readableBytes) { $0 + $1.payload.readableBytes }
      guard held <= 1 << 20 else { return protocolError("more than 1 MiB sent before the hello was answered") }
      pending.append(frame)
      state = .authenticating(pending: pending)
    case .ready:
      handleReady(frame)
    }
  }

  private func finishAuthentication(_ result: AuthenticationResult, clientNonce: [UInt8], deviceID: [UInt8]) {
    context.eventLoop.assertInEventLoop()
    guard case .authenticating(let pending) = state else { return }
    switch result {
    case .rejected(let reason):
      Counter(label: "orgsync_hello_refused_total").increment()
      peerGuard.noteFailure(keys: helloKeys(deviceID))
      // Who tried, from where: a device id (its last digits) and an address are not personal data.
      logger.notice(
        "refused a connection: authentication failed",
        metadata: [
          "device": "\(PeerIdentity(deviceID: deviceID).logName)",
          "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
        ])
      goAwayAndClose(reason: .unauthenticated, message: reason)
    case .accepted(let peer, let ackProof):
      if !peer.isAnonymous, !peerGuard.takeHello(device: peer.deviceID) {
        Counter(label: "orgsync_hellos_throttled_total").increment()
        return goAwayAndClose(
          reason: .noError, message: "this device opened too many connections just now; try again in a minute")
      }
      self.peer = peer
      leaveHelloCount()
      peerGuard.noteHelloAccepted()
      if !peer.isAnonymous {
        peerGuard.noteSuccess(key: PeerGuard.deviceKey(peer.deviceID, from: remoteAddress))
        let channel = context.channel
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        peerGuard.attach(device: peer.deviceID, connection: ObjectIdentifier(self)) {
          channel.eventLoop.execute {
            handler.value.goAwayAndClose(
              reason: .noError, message: "this device opened more connections; its oldest is closed")
          }
        }
      }
      var ack = Orgsync_V1_HelloAck()
      ack.major = UInt32(ProtocolVersion.current.major)
      ack.minor = UInt32(ProtocolVersion.current.minor)
      ack.limits = limits.wire
      ack.proof = .init(ackProof)
      ack.serverName = "orgsyncd"
      if compression { ack.compression = MessageCompression.name }
      writeControl(.helloAck, ack)
      state = .ready
      for frame in pending { handleReady(frame) }
      flushNow()
    }
  }

  func handleReady(_ frame: Frame) {
    switch frame.type {
    case .hello, .helloAck, .challenge, .trailers:
      protocolError("unexpected \(frame.type) frame")
    case .ping:
      if !frame.flags.contains(.ack) {
        emit { $0.writeFrame(Frame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)) }
      }
    case .goAway:
      draining = true
      if streams.isEmpty { context.close(promise: nil) }
    case .headers:
      openStream(frame)
    case .message:
      guard let stream = stream(for: frame) else { return }
      if frame.flags.contains(.noMessage) {
        guard frame.payload.readableBytes == 0 else { return protocolError("NO_MESSAGE frame with a payload") }
      } else {
        // Windows count message bytes as the handler will hold them: after inflating.
        var frame = frame
        if frame.flags.contains(.compressed) {
          guard compression else { return protocolError("a compressed MESSAGE without agreeing on compression") }
          do {
            frame.payload = try MessageCompression.decompress(frame.payload, maxSize: limits.maxFrameSize)
          } catch {
            return protocolError("\(error)")
          }
        }
        stream.receiveCredit -= frame.payload.readableBytes
        guard stream.receiveCredit > -limits.maxFrameSize else {
          return protocolError("stream \(frame.streamID) sent past its window")
        }
        guard !stream.requests.isFinished else { return }  // after its END_STREAM: dropped
        let cap = peerGuard.policy.maxHeldRequestBytes
        guard bufferedInbound + frame.payload.readableBytes <= cap else {
          return finish(
            stream,
            status: RPCError(
              code: .resourceExhausted,
              message: "the server holds \(cap >> 10) KiB of this connection's requests already; retry later"))
        }
        bufferedInbound += frame.payload.readableBytes
        stream.requests.push(frame.payload)
      }
      if frame.flags.contains(.endStream) { stream.requests.finish() }
    case .windowUpdate:
      guard let stream = stream(for: frame) else { return }
      let increment = Int(frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self)!)
      guard increment > 0 else { return protocolError("WINDOW_UPDATE of 0") }
      stream.credit.add(increment)
    case .cancel:
      guard let stream = stream(for: frame) else { return }
      finish(stream, status: nil, abortWith: RPCError(code: .cancelled, message: "the client cancelled the call"))
    }
  }

  /// The live stream a call frame is for; nil (frame dropped) for a call that has ended.
  func stream(for frame: Frame) -> Stream? {
    if let stream = streams[frame.streamID] { return stream }
    if frame.streamID > highestStreamID {
      protocolError("\(frame.type) frame for stream \(frame.streamID), never opened")
    }
    return nil
  }

  // MARK: Ending calls

  /// Ends a call: sends TRAILERS with `status` (unless nil: the client cancelled) and stops its
  /// handler. Idempotent; later frames for the stream are dropped.
  func finish(_ stream: Stream, status: RPCError?, abortWith: RPCError? = nil) {
    context.eventLoop.assertInEventLoop()
    guard stream.active else { return }
    if let status { writeTrailers(stream.id, status) }
    abort(stream, abortWith ?? status ?? RPCError(code: .cancelled, message: "the call has ended"))
    streams[stream.id] = nil
    if draining, streams.isEmpty {
      flushNow()
      context.close(promise: nil)
    }
  }

  func abort(_ stream: Stream, _ error: RPCError) {
    // What the handler never took is no longer held for it.
    if stream.requests.onConsumed != nil {
      released(stream.requests.bufferedBytes)
      stream.requests.onConsumed = nil
    }
    stream.active = false
    if let index = writabilityWaiters.firstIndex(where: { $0.stream === stream }) {
      writabilityWaiters.remove(at: index).continuation.resume(throwing: error)
    }
    stream.deadlineTimer?.cancel()
    stream.requests.finish(error.code == .ok ? nil : error)
    stream.credit.fail(error.code == .ok ? RPCError(code: .cancelled, message: "the call has ended") : error)
    if error.code != .ok { stream.task?.cancel() }
  }

  func helloKeys(_ deviceID: [UInt8]) -> [PeerGuard.GuessKey] {
    peerGuard.helloKeys(deviceID: deviceID, address: remoteAddress)
  }

  /// Idempotent; on the loop.
  func leaveHelloCount() {
    guard countedBeforeHello else { return }
    countedBeforeHello = false
    peerGuard.leftHello(connection: ObjectIdentifier(self))
  }

  func writeTrailers(_ id: UInt32, _ status: RPCError) {
    var trailers = Orgsync_V1_Trailers()
    trailers.code = status.code.wire
    trailers.message = status.message
    trailers.metadata = status.metadata.map { entry in
      var wire = Orgsync_V1_MetadataEntry()
      wire.key = entry.key
      wire.value = entry.value
      return wire
    }
    writeControl(.trailers, trailers, streamID: id)
  }
}

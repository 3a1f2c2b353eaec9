import Logging
import NIOCore
import OrgSyncProto
import OrgSyncWire

/// A device's credentials for the hello (docs/PROTOCOL.md §1.2).
public struct ClientIdentity: Sendable, Hashable {
  public var deviceID: [UInt8]
  public var secret: [UInt8]

  public init(deviceID: [UInt8], secret: [UInt8]) {
    self.deviceID = deviceID
    self.secret = secret
  }
}

/// The client side of one connection: handshake, calls by stream id, flow control, keepalive.
/// Loop-confined; `ClientConnection` is the thread-safe face of it.
final class ClientConnectionHandler: ChannelInboundHandler, FrameOutput, @unchecked Sendable {
  typealias InboundIn = WireEvent
  typealias OutboundOut = ByteBuffer

  enum State {
    case awaitingPreface, awaitingChallenge, awaitingAck, ready, closed
  }

  /// One call in progress.
  final class Call: @unchecked Sendable {
    enum Kind {
      /// Resumed once with the single response (or the error) when TRAILERS arrive.
      case unary(CheckedContinuation<ByteBuffer, any Error>?)
      case streaming(InboundQueue)
    }
    var id: UInt32 = 0
    var kind: Kind
    var response: ByteBuffer?
    var credit: SendCredit
    var receiveCredit: Int
    var consumedSinceUpdate = 0
    var deadlineTimer: Scheduled<Void>?
    var ended = false
    var cancelledBeforeStart = false
    /// The caller finished sending while the call still waited for a slot.
    var finishWhenOpened = false
    var trailers = Metadata()

    init(kind: Kind, sendWindow: Int, receiveWindow: Int) {
      self.kind = kind
      self.credit = SendCredit(initial: sendWindow)
      self.receiveCredit = receiveWindow
    }
  }

  private let identity: ClientIdentity?
  private let limits: ConnectionLimits
  /// Whether MESSAGE payloads may go compressed, both ways (the server took the offer).
  private var compression = false
  /// Whether to offer compression at all.
  private let offerCompression: Bool
  private let readyPromise: EventLoopPromise<Void>
  private var logger: Logger
  var context: ChannelHandlerContext!
  private var state = State.awaitingPreface
  private let clientNonce = HelloProof.randomBytes()
  private(set) var serverLimits = ConnectionLimits.defaults
  private var calls: [UInt32: Call] = [:]
  private var nextStreamID: UInt32 = 1
  private(set) var goAwayLastStream: UInt32?
  private var pingOutstanding = false
  var out = ByteBuffer()
  var flushScheduled = false
  /// Set when the connection can take no new calls (GOAWAY received or closed).
  let onUnusable: @Sendable () -> Void

  init(
    identity: ClientIdentity?, limits: ConnectionLimits, compression: Bool = true,
    readyPromise: EventLoopPromise<Void>, logger: Logger,
    onUnusable: @escaping @Sendable () -> Void
  ) {
    self.identity = identity
    self.limits = limits
    self.offerCompression = compression
    self.readyPromise = readyPromise
    self.logger = logger
    self.onUnusable = onUnusable
  }

  var activeCalls: Int { calls.count }
  /// Every call's flow-control window, both ways: the smaller of the two announced.
  var window: Int { min(limits.initialWindow, serverLimits.initialWindow) }

  /// A call waiting for one of the server's concurrent-call slots on this connection.
  private struct Queued {
    let call: Call
    let method: String
    let options: CallOptions
    let firstMessage: ByteBuffer?
    let endStream: Bool
    let since: NIODeadline
  }
  /// Calls beyond the server's `max_concurrent_streams`, in the order they were made: they
  /// start as running ones end (gRPC clients queue the same way) rather than fail.
  private var queued = CircularBuffer<Queued>()
  /// Most calls that may wait; beyond it a call fails at once (RESOURCE_EXHAUSTED).
  static let maxQueuedCalls = 10_000

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    if context.channel.isActive { sendPreface() }
  }

  func channelActive(context: ChannelHandlerContext) {
    sendPreface()
    context.fireChannelActive()
  }

  private var prefaceSent = false
  private func sendPreface() {
    guard !prefaceSent else { return }
    prefaceSent = true
    out.writePreface()
    flushNow()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .preface:
      guard state == .awaitingPreface else { return fail("the server sent a second preface") }
      state = .awaitingChallenge
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
      fail("the server broke the protocol: \(wire)")
    } else {
      readyPromise.fail(RPCError.connectionFailed(error))
      context.close(promise: nil)
    }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    guard let idle = event as? IdleStateHandler.IdleStateEvent, idle == .write else {
      return context.fireUserInboundEventTriggered(event)
    }
    // Keepalive: nothing sent for a while. An unanswered earlier ping means the server or the
    // path is gone (a half-open connection): close so calls fail and the next one reconnects.
    if pingOutstanding {
      logger.debug("keepalive ping unanswered; closing")
      context.close(promise: nil)
      return
    }
    pingOutstanding = true
    emit { $0.writeFrame(type: .ping, streamID: 0) { $0.writeInteger(UInt64(0x6F72_6773_796E_6321)) } }
  }

  func channelInactive(context: ChannelHandlerContext) {
    state = .closed
    onUnusable()
    let error = RPCError(code: .unavailable, message: "the connection to the server closed")
    readyPromise.fail(error)
    failQueued(RPCError(code: .unavailable, message: "the connection to the server closed", cause: NotStarted()))
    for call in calls.values { end(call, error) }
    calls.removeAll()
    context.fireChannelInactive()
  }

  // MARK: Frames

  private func handle(_ frame: Frame) {
    switch frame.type {
    case .challenge:
      guard state == .awaitingChallenge, let challenge = try? Orgsync_V1_Challenge(buffer: frame.payload) else {
        return fail("unexpected or malformed CHALLENGE")
      }
      sendHello(serverNonce: Array(challenge.nonce))
    case .helloAck:
      guard state == .awaitingAck, let ack = try? Orgsync_V1_HelloAck(buffer: frame.payload) else {
        return fail("unexpected or malformed HELLO_ACK")
      }
      if let identity {
        let expected = HelloProof.ackProof(
          storedKey: HelloProof.storedKey(secret: identity.secret), clientNonce: clientNonce,
          serverNonce: serverNonce)
        guard Array(ack.proof) == expected else {
          readyPromise.fail(
            RPCError(
              code: .unauthenticated, message: "the server could not prove it is the one this device enrolled with"))
          context.close(promise: nil)
          return
        }
      }
      serverLimits = ConnectionLimits(wire: ack.limits)
      compression = ack.compression == MessageCompression.name
      state = .ready
      readyPromise.succeed()
    case .goAway:
      let goAway = (try? Orgsync_V1_GoAway(buffer: frame.payload)) ?? Orgsync_V1_GoAway()
      receivedGoAway(goAway)
    case .ping:
      if frame.flags.contains(.ack) {
        pingOutstanding = false
      } else {
        emit { $0.writeFrame(Frame(type: .ping, flags: .ack, streamID: 0, payload: frame.payload)) }
      }
    case .hello:
      fail("the server sent HELLO")
    case .headers:
      _ = calls[frame.streamID]  // response metadata: accepted, not surfaced yet
    case .message:
      guard let call = calls[frame.streamID] else { return }
      if frame.flags.contains(.noMessage) { return }
      // Windows count message bytes as this side holds them: after inflating.
      var frame = frame
      if frame.flags.contains(.compressed) {
        guard compression else { return fail("the server sent a compressed message unasked") }
        do {
          frame.payload = try MessageCompression.decompress(frame.payload, maxSize: limits.maxFrameSize)
        } catch {
          return fail("\(error)")
        }
      }
      call.receiveCredit -= frame.payload.readableBytes
      guard call.receiveCredit > -limits.maxFrameSize else { return fail("the server sent past a call's window") }
      switch call.kind {
      case .unary:
        call.response = frame.payload
      case .streaming(let queue):
        queue.push(frame.payload)
      }
    case .trailers:
      guard let call = calls[frame.streamID] else { return }
      let trailers = (try? Orgsync_V1_Trailers(buffer: frame.payload)) ?? Orgsync_V1_Trailers()
      var metadata = Metadata()
      for entry in trailers.metadata { metadata.add(entry.key, entry.value) }
      call.trailers = metadata
      let code = RPCError.Code(wire: trailers.code)
      end(call, RPCError(code: code, message: trailers.message, metadata: metadata))
    case .cancel:
      guard let call = calls[frame.streamID] else { return }
      let cancel = (try? Orgsync_V1_Cancel(buffer: frame.payload)) ?? Orgsync_V1_Cancel()
      let code = RPCError.Code(wire: cancel.code)
      end(call, RPCError(code: code == .ok ? .cancelled : code, message: cancel.message))
    case .windowUpdate:
      guard let call = calls[frame.streamID] else { return }
      let increment = Int(frame.payload.getInteger(at: frame.payload.readerIndex, as: UInt32.self)!)
      guard increment > 0 else { return fail("WINDOW_UPDATE of 0") }
      call.credit.add(increment)
    }
  }

  private var serverNonce: [UInt8] = []

  private func sendHello(serverNonce: [UInt8]) {
    self.serverNonce = serverNonce
    var hello = Orgsync_V1_Hello()
    hello.major = UInt32(ProtocolVersion.current.major)
    hello.minor = UInt32(ProtocolVersion.current.minor)
    hello.clientNonce = .init(clientNonce)
    hello.limits = limits.wire
    hello.clientName = "orgsync-swift"
    if offerCompression { hello.compression = [MessageCompression.name] }
    if let identity {
      hello.deviceID = .init(identity.deviceID)
      hello.proof = .init(
        HelloProof.clientProof(
          secret: identity.secret, serverNonce: serverNonce, clientNonce: clientNonce, deviceID: identity.deviceID))
    }
    writeControl(.hello, hello)
    state = .awaitingAck
  }

  private func receivedGoAway(_ goAway: Orgsync_V1_GoAway) {
    goAwayLastStream = goAway.lastStreamID
    onUnusable()
    if state != .ready {
      let code: RPCError.Code = goAway.reason == .unauthenticated ? .unauthenticated : .unavailable
      readyPromise.fail(RPCError(code: code, message: "the server refused the connection: \(goAway.message)"))
    }
    // Calls the server never started can run again elsewhere; the others finish here.
    failQueued(RPCError(code: .unavailable, message: "the server is going away", cause: NotStarted()))
    for call in calls.values where call.id > goAway.lastStreamID {
      end(call, RPCError(code: .unavailable, message: "the server is going away", cause: NotStarted()))
    }
    if goAway.reason != .noError { logger.debug("server sent GOAWAY", metadata: ["reason": "\(goAway.reason)"]) }
    if calls.isEmpty { context.close(promise: nil) }
  }

  private func fail(_ message: String) {
    logger.debug("closing connection", metadata: ["reason": "\(message)"])
    var goAway = Orgsync_V1_GoAway()
    goAway.reason = .protocolError
    goAway.message = message
    writeControl(.goAway, goAway)
    flushNow()
    readyPromise.fail(RPCError(code: .unavailable, message: message))
    context.close(promise: nil)
  }

  // MARK: Calls (loop side)

  /// Opens a call: HEADERS, then optionally the first message, in one write.
  func start(
    _ call: Call, method: String, options: CallOptions, firstMessage: ByteBuffer?, endStream: Bool
  ) {
    if call.cancelledBeforeStart { return end(call, RPCError(code: .cancelled, message: "the call was cancelled")) }
    guard state == .ready, goAwayLastStream == nil else {
      return end(call, RPCError(code: .unavailable, message: "the connection is closing", cause: NotStarted()))
    }
    if let firstMessage, firstMessage.readableBytes > serverLimits.maxFrameSize {
      return end(call, RPCError.tooLarge(firstMessage.readableBytes, limit: serverLimits.maxFrameSize))
    }
    if calls.count >= serverLimits.maxConcurrentStreams || !queued.isEmpty {
      guard queued.count < Self.maxQueuedCalls else {
        return end(
          call,
          RPCError(code: .resourceExhausted, message: "more than \(Self.maxQueuedCalls) calls are waiting to start"))
      }
      if let timeout = options.timeout {
        call.deadlineTimer = context.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
          [weak self, weak call] in
          guard let self, let call else { return }
          self.cancel(call, RPCError(code: .deadlineExceeded, message: "the call's deadline passed"))
        }
      }
      queued.append(
        Queued(
          call: call, method: method, options: options, firstMessage: firstMessage, endStream: endStream,
          since: .now()))
      return
    }
    open(call, method: method, options: options, firstMessage: firstMessage, endStream: endStream)
  }

  /// Starts calls that waited, while the server has slots for them.
  private func startQueued() {
    while calls.count < serverLimits.maxConcurrentStreams, let next = queued.popFirst() {
      guard state == .ready, goAwayLastStream == nil else {
        end(next.call, RPCError(code: .unavailable, message: "the connection is closing", cause: NotStarted()))
        continue
      }
      var options = next.options
      if let timeout = options.timeout {
        // The deadline already runs (its timer was set when the call was queued): the server
        // is told what is left of it.
        let waited = Duration.nanoseconds((NIODeadline.now() - next.since).nanoseconds)
        options.timeout = max(.microseconds(1), timeout - waited)
      }
      open(next.call, method: next.method, options: options, firstMessage: next.firstMessage, endStream: next.endStream)
    }
  }

  private func failQueued(_ error: RPCError) {
    while let next = queued.popFirst() { end(next.call, error) }
  }

  /// Sends HEADERS (and the first message) for a call that has a slot.
  private func open(
    _ call: Call, method: String, options: CallOptions, firstMessage original: ByteBuffer?, endStream: Bool
  ) {
    let (firstMessage, flags): (ByteBuffer?, FrameFlags) =
      original.map { MessageCompression.pack($0, if: compression) } ?? (nil, [])
    // Credit only now: a streaming call's writer waits until the call has a stream id.
    call.credit.add(window)
    call.id = nextStreamID
    nextStreamID += 2
    calls[call.id] = call
    if case .streaming(let queue) = call.kind {
      queue.onConsumed = { [unowned self, unowned call] bytes in self.consumed(bytes, on: call) }
    }
    var headers = Orgsync_V1_RequestHeaders()
    headers.method = method
    if let timeout = options.timeout {
      headers.timeoutMicros = UInt64(max(1, timeout.nanoseconds / 1000))
    }
    if let timeout = options.timeout, call.deadlineTimer == nil {
      call.deadlineTimer = context.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
        [weak self, weak call] in
        guard let self, let call else { return }
        self.cancel(call, RPCError(code: .deadlineExceeded, message: "the call's deadline passed"))
      }
    }
    for entry in options.metadata {
      var wire = Orgsync_V1_MetadataEntry()
      wire.key = entry.key
      wire.value = entry.value
      headers.metadata.append(wire)
    }
    let headerPayload = try! headers.serializedBuffer()
    let id = call.id
    emit { buffer in
      var headerPayload = headerPayload
      buffer.writeFrame(type: .headers, flags: firstMessage == nil && endStream ? .endStream : [], streamID: id) {
        $0.writeBuffer(&headerPayload)
      }
      if var message = firstMessage {
        buffer.writeFrame(type: .message, flags: flags.union(endStream ? .endStream : []), streamID: id) {
          $0.writeBuffer(&message)
        }
      }
    }
    if let original { call.credit.spend(original.readableBytes) }
    if call.finishWhenOpened { finishSending(call) }
  }

  /// Sends one request message on an open call (credit already checked by the caller).
  func send(_ call: Call, _ payload: ByteBuffer, endStream: Bool) throws {
    guard !call.ended else { throw call.credit.error ?? RPCError(code: .cancelled, message: "the call has ended") }
    guard payload.readableBytes <= serverLimits.maxFrameSize else {
      let error = RPCError.tooLarge(payload.readableBytes, limit: serverLimits.maxFrameSize)
      cancel(call, error)
      throw error
    }
    let (packed, flags) = MessageCompression.pack(payload, if: compression)
    call.credit.spend(payload.readableBytes)  // the message's own size, as the server counts it
    var payload = packed
    let id = call.id
    emit {
      $0.writeFrame(type: .message, flags: flags.union(endStream ? .endStream : []), streamID: id) {
        $0.writeBuffer(&payload)
      }
    }
  }

  /// Ends the client's half of a call without a message.
  func finishSending(_ call: Call) {
    guard !call.ended else { return }
    guard call.id != 0 else {
      call.finishWhenOpened = true
      return
    }
    let id = call.id
    emit { $0.writeFrame(type: .message, flags: [.endStream, .noMessage], streamID: id) { _ in } }
  }

  /// Abandons a call: fails it locally with `error` and tells the server with CANCEL.
  func cancel(_ call: Call, _ error: RPCError) {
    guard call.id != 0 else {
      if let index = queued.firstIndex(where: { $0.call === call }) {
        queued.remove(at: index)
        end(call, error)
      } else {
        call.cancelledBeforeStart = true
      }
      return
    }
    guard !call.ended else { return }
    var cancel = Orgsync_V1_Cancel()
    cancel.code = error.code.wire
    cancel.message = error.message
    writeControl(.cancel, cancel, streamID: call.id)
    end(call, error)
  }

  private func consumed(_ bytes: Int, on call: Call) {
    call.consumedSinceUpdate += bytes
    guard !call.ended, call.consumedSinceUpdate >= window / 2 else { return }
    let increment = call.consumedSinceUpdate
    call.consumedSinceUpdate = 0
    call.receiveCredit += increment
    let id = call.id
    emit { $0.writeFrame(type: .windowUpdate, streamID: id) { $0.writeInteger(UInt32(increment)) } }
  }

  /// Completes a call with its final status (`.ok` or an error).
  private func end(_ call: Call, _ status: RPCError) {
    guard !call.ended else { return }
    call.ended = true
    call.deadlineTimer?.cancel()
    if call.id != 0 { calls[call.id] = nil }
    let failure: RPCError? = status.code == .ok ? nil : status
    call.credit.fail(failure ?? RPCError(code: .cancelled, message: "the call has ended"))
    switch call.kind {
    case .unary(let continuation):
      call.kind = .unary(nil)
      if let failure {
        continuation?.resume(throwing: failure)
      } else if let response = call.response {
        continuation?.resume(returning: response)
      } else {
        continuation?.resume(throwing: RPCError(code: .internal, message: "the server sent no response message"))
      }
    case .streaming(let queue):
      queue.finish(failure)
    }
    if !queued.isEmpty { startQueued() }
    if goAwayLastStream != nil, calls.isEmpty, queued.isEmpty { context.close(promise: nil) }
  }
}

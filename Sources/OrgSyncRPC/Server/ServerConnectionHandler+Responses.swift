import Logging
import Metrics
import NIOCore
import OrgSyncProto
import OrgSyncWire

/// One call on a server connection, and how its response messages reach the socket: only with
/// flow-control credit and while the socket takes data (docs/PROTOCOL.md §5).
extension ServerConnectionHandler {
  final class Stream: MessageSink, @unchecked Sendable {
    let id: UInt32
    let requests: InboundQueue
    let credit: SendCredit
    unowned let connection: ServerConnectionHandler
    var task: Task<Void, Never>?
    var deadlineTimer: Scheduled<Void>?
    var active = true
    /// Credit the client still has before it must wait (it may overdraw by one message).
    var receiveCredit: Int
    var consumedSinceUpdate = 0
    let maxMessage: Int

    init(
      id: UInt32, connection: ServerConnectionHandler, loop: any EventLoop, sendWindow: Int, receiveWindow: Int,
      maxMessage: Int
    ) {
      self.id = id
      self.maxMessage = maxMessage
      self.connection = connection
      self.requests = InboundQueue(loop: loop)
      self.credit = SendCredit(initial: sendWindow)
      self.receiveCredit = receiveWindow
    }

    /// Sends one response message once the call has credit and the socket is taking data: a
    /// client that stops reading stops the handler here, and the server holds at most what
    /// the socket's buffer, one window and the message being sent need.
    func send(_ payload: ByteBuffer) async throws {
      let loop = requests.loop
      guard payload.readableBytes <= maxMessage else {
        throw RPCError(
          code: .resourceExhausted,
          message: "a response of \(payload.readableBytes) bytes is larger than the \(maxMessage) the client accepts")
      }
      if loop.inEventLoop, active, credit.canSend, connection.isWritable {
        connection.sendMessage(payload, on: self)
        return
      }
      while true {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
          loop.execute { self.credit.wait(continuation) }
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
          loop.execute { self.connection.waitUntilWritable(self, continuation) }
        }
        let sent = try await loop.submit { [self] in
          guard active else { throw credit.error ?? RPCError(code: .cancelled, message: "the call has ended") }
          // Another call may have filled the socket since we were woken: wait again.
          guard credit.canSend, connection.isWritable else { return false }
          connection.sendMessage(payload, on: self)
          return true
        }.get()
        if sent { return }
      }
    }
  }

  func sendMessage(_ payload: ByteBuffer, on stream: Stream) {
    context.eventLoop.assertInEventLoop()
    // Windows count the message before compression: they bound what the receiver holds.
    stream.credit.spend(payload.readableBytes)
    var (payload, flags) = MessageCompression.pack(payload, if: compression)
    emit { $0.writeFrame(type: .message, flags: flags, streamID: stream.id) { $0.writeBuffer(&payload) } }
    // Hand large output to the channel now, so that its writability tells the next sender the
    // truth (frames gathered for a later flush are invisible to it).
    if out.readableBytes >= Self.flushThreshold { flushNow() }
  }

  /// Output gathered in one loop tick beyond which it is flushed at once.
  static let flushThreshold = 64 * 1024

  /// The flow-control window of every call on this connection, both ways: the smaller of the
  /// two announced (a client cannot make the server hold more than the server chose).
  var window: Int { min(limits.initialWindow, peerLimits.initialWindow) }

  var isWritable: Bool { context.channel.isWritable }

  func waitUntilWritable(_ stream: Stream, _ continuation: CheckedContinuation<Void, any Error>) {
    context.eventLoop.assertInEventLoop()
    if !stream.active {
      continuation.resume(throwing: stream.credit.error ?? RPCError(code: .cancelled, message: "the call has ended"))
    } else if context.channel.isWritable {
      continuation.resume()
    } else {
      writabilityWaiters.append((stream, continuation))
    }
  }

  func wakeWritabilityWaiters() {
    guard context.channel.isWritable else { return }
    // Each woken sender checks again before it writes; those that find the socket full wait
    // again, in order.
    while let waiter = writabilityWaiters.popFirst() { waiter.continuation.resume() }
  }
}

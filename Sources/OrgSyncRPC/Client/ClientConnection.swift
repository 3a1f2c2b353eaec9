import NIOCore
import SwiftProtobuf

/// The thread-safe face of one connection: starts calls on its event loop.
final class ClientConnection: Sendable {
  let channel: any Channel
  private let handlerBox: NIOLoopBound<ClientConnectionHandler>
  private let flag: UsableFlag

  init(channel: any Channel, handler: ClientConnectionHandler, flag: UsableFlag) {
    self.channel = channel
    self.handlerBox = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    self.flag = flag
  }

  var isUsable: Bool { flag.isUsable }
  var loop: any EventLoop { channel.eventLoop }

  /// Runs `body` with the handler on the connection's loop, hopping only when not there.
  func onLoop(_ body: @escaping @Sendable (ClientConnectionHandler) -> Void) {
    if loop.inEventLoop {
      body(handlerBox.value)
    } else {
      let box = handlerBox
      loop.execute { body(box.value) }
    }
  }

  /// The handler; call only on the connection's loop.
  func withHandler<T>(_ body: (ClientConnectionHandler) throws -> T) rethrows -> T {
    try body(handlerBox.value)
  }

  func unary(_ method: String, _ payload: ByteBuffer, options: CallOptions) async throws -> ByteBuffer {
    let call = ClientConnectionHandler.Call(kind: .unary(nil), sendWindow: 0, receiveWindow: Int.max / 2)
    let box = UncheckedBox(call)
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        onLoop { handler in
          let call = box.value
          call.kind = .unary(continuation)
          handler.start(call, method: method, options: options, firstMessage: payload, endStream: true)
        }
      }
    } onCancel: {
      onLoop { handler in handler.cancel(box.value, RPCError(code: .cancelled, message: "the caller cancelled")) }
    }
  }

  func openStreaming(_ method: String, options: CallOptions, first: ByteBuffer?, endStream: Bool) async throws
    -> StreamingCall
  {
    let queue = InboundQueue(loop: loop)
    let call = ClientConnectionHandler.Call(kind: .streaming(queue), sendWindow: 0, receiveWindow: 0)
    let box = UncheckedBox(call)
    try await loop.submit { [handlerBox] in
      let handler = handlerBox.value
      call.receiveCredit = handler.window
      handler.start(call, method: method, options: options, firstMessage: first, endStream: endStream)
    }.get()
    return StreamingCall(connection: self, call: box, responses: queue)
  }
}

struct UncheckedBox<Value>: @unchecked Sendable {
  let value: Value
  init(_ value: Value) { self.value = value }
}

/// An open streaming call, used by `RequestWriter` and `ResponseStream`.
struct StreamingCall: Sendable {
  let connection: ClientConnection
  let call: UncheckedBox<ClientConnectionHandler.Call>
  let responses: InboundQueue

  func send(_ payload: ByteBuffer) async throws {
    let call = self.call
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
      connection.onLoop { _ in call.value.credit.wait(continuation) }
    }
    try await connection.loop.submit { [connection] in
      // On the loop again: send unless the call ended meanwhile.
      try connection.withHandler { try $0.send(call.value, payload, endStream: false) }
    }.get()
  }

  func finishSending() async throws {
    let call = self.call
    try await connection.loop.submit { [connection] in
      connection.withHandler { $0.finishSending(call.value) }
    }.get()
  }

  func cancel() {
    let call = self.call
    connection.onLoop { handler in
      handler.cancel(call.value, RPCError(code: .cancelled, message: "the caller stopped the call"))
    }
  }

  /// Runs `body`; if it throws or is cancelled, the call is cancelled on the server too.
  func withCancellationOnExit<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
      let result = try await withTaskCancellationHandler {
        try await body()
      } onCancel: {
        cancel()
      }
      return result
    } catch {
      cancel()
      throw error
    }
  }
}

/// Responses of a streaming call. Reading slowly slows the server (flow control).
public struct ResponseStream<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
  let queue: InboundQueue

  public struct AsyncIterator: AsyncIteratorProtocol {
    let queue: InboundQueue
    public mutating func next() async throws -> Message? {
      guard let buffer = try await queue.next() else { return nil }
      do {
        return try Message(buffer: buffer)
      } catch {
        throw RPCError(code: .internal, message: "the server's \(Message.protoMessageName) does not decode")
      }
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }
}

/// Writes the requests of a streaming call; waits while the server's window is used up.
public struct RequestWriter<Message: SwiftProtobuf.Message>: Sendable {
  let call: StreamingCall

  public func write(_ message: Message) async throws {
    try await call.send(try encodeMessage(message))
  }
}

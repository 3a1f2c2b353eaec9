import NIOCore

/// Messages that arrived for one call and wait for the application to read them.
///
/// All state lives on the connection's event loop. The reader (`next()`) may run anywhere; it
/// hops to the loop only when it is not already there. Each message the reader takes is
/// reported through `onConsumed`, which the connection turns into WINDOW_UPDATE credit — so
/// a reader that stops reading stops the sender (docs/PROTOCOL.md §5).
final class InboundQueue: @unchecked Sendable {
  let loop: any EventLoop
  private var buffer = CircularBuffer<ByteBuffer>(initialCapacity: 2)
  private var waiter: CheckedContinuation<ByteBuffer?, any Error>?
  private var end: RPCError?? = nil  // .some(nil): finished cleanly; .some(error): failed
  /// Called on the loop with the size of each message handed to the reader.
  var onConsumed: ((Int) -> Void)?

  init(loop: any EventLoop) {
    self.loop = loop
  }

  /// Bytes waiting to be read (for tests and limits).
  var bufferedBytes: Int {
    loop.preconditionInEventLoop()
    return buffer.reduce(0) { $0 + $1.readableBytes }
  }

  // MARK: Loop side

  func push(_ message: ByteBuffer) {
    loop.preconditionInEventLoop()
    guard end == nil else { return }
    if let waiter {
      self.waiter = nil
      onConsumed?(message.readableBytes)
      waiter.resume(returning: message)
    } else {
      buffer.append(message)
    }
  }

  /// No more messages will come: cleanly (`nil`) or because the call failed.
  func finish(_ error: RPCError? = nil) {
    loop.preconditionInEventLoop()
    guard end == nil else { return }
    end = .some(error)
    if error != nil { buffer.removeAll() }
    if let waiter, buffer.isEmpty {
      self.waiter = nil
      if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
    }
  }

  var isFinished: Bool { end != nil }

  // MARK: Reader side

  /// The next message, nil at the end, or the call's error.
  func next() async throws -> ByteBuffer? {
    if loop.inEventLoop, let ready = try takeReady() {
      return ready
    }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
        if loop.inEventLoop {
          self.take(continuation)
        } else {
          loop.execute { self.take(continuation) }
        }
      }
    } onCancel: {
      loop.execute { self.finish(RPCError(code: .cancelled, message: "the reader was cancelled")) }
    }
  }

  /// Returns a message or the end if one is ready, or nil (meaning: wait) — loop only.
  private func takeReady() throws -> ByteBuffer?? {
    if let message = buffer.popFirst() {
      onConsumed?(message.readableBytes)
      return .some(message)
    }
    switch end {
    case .none: return .none
    case .some(.none): return .some(nil)
    case .some(.some(let error)): throw error
    }
  }

  private func take(_ continuation: CheckedContinuation<ByteBuffer?, any Error>) {
    do {
      if let ready = try takeReady() {
        continuation.resume(returning: ready)
      } else if waiter != nil {
        continuation.resume(throwing: RPCError(code: .internal, message: "two readers on one stream"))
      } else {
        waiter = continuation
      }
    } catch {
      continuation.resume(throwing: error)
    }
  }
}

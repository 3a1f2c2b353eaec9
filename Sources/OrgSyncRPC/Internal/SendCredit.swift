import NIOCore

/// The sender's side of one call's flow-control window (docs/PROTOCOL.md §5). Loop-confined.
/// A message may go while the credit is above zero; then the writer waits for WINDOW_UPDATE.
final class SendCredit {
  private(set) var available: Int
  private var waiters = CircularBuffer<CheckedContinuation<Void, any Error>>()
  private var failure: RPCError?

  init(initial: Int) {
    available = initial
  }

  var canSend: Bool { available > 0 && failure == nil }

  func spend(_ bytes: Int) { available -= bytes }

  /// Adds credit; wakes writers while there is some.
  func add(_ bytes: Int) {
    available += bytes
    while available > 0, let waiter = waiters.popFirst() {
      waiter.resume()
    }
  }

  /// Waits (on the loop) until a message may be sent, or throws the call's failure.
  func wait(_ continuation: CheckedContinuation<Void, any Error>) {
    if let failure {
      continuation.resume(throwing: failure)
    } else if available > 0 {
      continuation.resume()
    } else {
      waiters.append(continuation)
    }
  }

  /// The call ended: fail every waiting writer and every later one.
  func fail(_ error: RPCError) {
    guard failure == nil else { return }
    failure = error
    while let waiter = waiters.popFirst() {
      waiter.resume(throwing: error)
    }
  }

  var error: RPCError? { failure }
}

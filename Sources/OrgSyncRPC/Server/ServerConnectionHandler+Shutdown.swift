import Logging
import Metrics
import NIOCore
import OrgSyncProto
import OrgSyncWire

/// Ending a connection: a graceful drain, or GOAWAY with a reason and a close.
extension ServerConnectionHandler {
  // MARK: Shutdown

  /// Graceful shutdown: GOAWAY naming the last accepted call; close once those have finished.
  func beginDrain() {
    context.eventLoop.assertInEventLoop()
    guard !draining, case .ready = state else {
      if case .ready = state {} else { context.close(promise: nil) }
      return
    }
    draining = true
    writeGoAway(reason: .noError, message: "the server is shutting down")
    flushNow()
    if streams.isEmpty { context.close(promise: nil) }
  }

  func protocolError(_ message: String) {
    logger.debug("protocol error", metadata: ["reason": "\(message)"])
    goAwayAndClose(reason: .protocolError, message: message)
  }

  func goAwayAndClose(reason: Orgsync_V1_GoAwayReason, message: String) {
    guard context.channel.isActive else { return }
    if case .closed = state { return }
    state = .closed
    writeGoAway(reason: reason, message: message)
    let buffer = out
    out.clear()
    context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { [context] _ in context?.close(promise: nil) }
  }

  func writeGoAway(reason: Orgsync_V1_GoAwayReason, message: String) {
    var goAway = Orgsync_V1_GoAway()
    goAway.lastStreamID = highestStreamID
    goAway.reason = reason
    goAway.message = message
    writeControl(.goAway, goAway)
  }

  static func goAwayReason(for code: WireError.Code) -> Orgsync_V1_GoAwayReason {
    switch code {
    case .frameTooLarge: .frameTooLarge
    case .badChecksum: .badChecksum
    case .unsupportedVersion: .unsupportedVersion
    default: .protocolError
    }
  }
}

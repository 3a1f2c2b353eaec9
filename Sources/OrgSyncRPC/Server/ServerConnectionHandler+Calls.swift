import Logging
import Metrics
import NIOCore
import OrgSyncProto
import OrgSyncWire

/// Starting a call: its headers checked and routed, its deadline set, its handler task run
/// under the peer's call limit (and, for anonymous callers, the spacing of guesses).
extension ServerConnectionHandler {
  func openStream(_ frame: Frame) {
    let id = frame.streamID
    guard id & 1 == 1, id > highestStreamID else {
      return protocolError("stream id \(id) is not a new odd id")
    }
    highestStreamID = id
    if draining { return }  // arrived after our GOAWAY: never started, the client retries it
    guard let headers = try? Orgsync_V1_RequestHeaders(buffer: frame.payload) else {
      return writeTrailers(id, RPCError(code: .invalidArgument, message: "the call's headers do not decode"))
    }
    guard streams.count < limits.maxConcurrentStreams else {
      return writeTrailers(
        id, RPCError(code: .resourceExhausted, message: "more than \(limits.maxConcurrentStreams) calls at once"))
    }
    guard let method = router[headers.method] else {
      return writeTrailers(id, RPCError(code: .unimplemented, message: "no method \(headers.method)"))
    }
    if peer.isAnonymous, !method.allowsAnonymous {
      return writeTrailers(id, RPCError(code: .unauthenticated, message: "this call needs an enrolled device"))
    }
    let loop = context.eventLoop
    let stream = Stream(
      id: id, connection: self, loop: loop, sendWindow: window, receiveWindow: window,
      maxMessage: peerLimits.maxFrameSize)
    stream.requests.onConsumed = { [unowned self, unowned stream] bytes in self.consumed(bytes, on: stream) }
    streams[id] = stream
    if frame.flags.contains(.endStream) { stream.requests.finish() }

    var metadata = Metadata()
    for entry in headers.metadata { metadata.add(entry.key, entry.value) }
    var deadline: ContinuousClock.Instant?
    if headers.timeoutMicros > 0 {
      let timeout = Duration.microseconds(Int64(clamping: headers.timeoutMicros))
      deadline = .now + timeout
      stream.deadlineTimer = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [weak self, weak stream] in
        guard let self, let stream else { return }
        self.finish(stream, status: RPCError(code: .deadlineExceeded, message: "the call's deadline passed"))
      }
    }
    let callContext = ServerContext(
      method: headers.method, metadata: metadata, peer: peer, deadline: deadline, trailers: TrailerBox())
    let body = method.handler
    let methodName = headers.method
    let peerKey = peer.isAnonymous ? PeerGuard.addressKey(remoteAddress) : PeerGuard.deviceKey(peer.deviceID)
    let anonymous = peer.isAnonymous
    let addressForLog = remoteAddress.map { "\($0)" } ?? "?"
    let guessKeys = peerGuard.callKeys(address: remoteAddress)
    let peerGuard = self.peerGuard
    let handler = NIOLoopBound(self, eventLoop: loop)
    let run: @Sendable () async -> Void = { [self] in
      let started = ContinuousClock.now
      var status: RPCError? = nil
      do {
        // One peer's calls run a few at a time; the rest wait here, not in the store.
        try await peerGuard.startCall(peer: peerKey)
        defer { peerGuard.endCall(peer: peerKey) }
        if anonymous {
          // Enrolment codes are guesses too: repeated wrong ones from an address are spaced out.
          guard let delay = peerGuard.delayBeforeAttempt(keys: guessKeys) else {
            Counter(label: "orgsync_guesses_refused_total").increment()
            throw RPCError(
              code: .resourceExhausted, message: "too many wrong codes from this address; try again in a few minutes")
          }
          if delay > .zero {
            Counter(label: "orgsync_guesses_delayed_total").increment()
            try await Task.sleep(for: delay)
          }
        }
        try await body(callContext, stream.requests, stream)
      } catch let error as any RPCErrorConvertible {
        status = error.rpcError
      } catch is CancellationError {
        status = RPCError(code: .cancelled, message: "the call was cancelled")
      } catch {
        // Never silent: the cause goes to the server's log under an id that the device prints too.
        let errorID = String(UInt32.random(in: 0...UInt32.max), radix: 16, uppercase: true)
        logger.error(
          "call failed",
          metadata: [
            "error_id": "\(errorID)", "method": "\(headers.method)", "device": "\(peer.logName)",
            "error": "\(String(reflecting: error))",
          ])
        status = RPCError(
          code: .internal, message: "the server failed to handle the call (error id \(errorID) in the server's log)")
      }
      let trailers = callContext.trailers.metadata.withLock { $0 }
      let final = status ?? RPCError(code: .ok, message: "")
      if anonymous, final.code == .unauthenticated {
        peerGuard.noteFailure(keys: guessKeys)
        logger.notice(
          "refused an anonymous call", metadata: ["method": "\(methodName)", "peer": "\(addressForLog)"])
      }
      // Only routed methods get here, so the method label has a fixed, small set of values.
      let elapsed = ContinuousClock.now - started
      Timer(label: "orgsync_rpc_call_duration_seconds", dimensions: [("method", methodName)])
        .recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
      Counter(label: "orgsync_rpc_calls_total", dimensions: [("method", methodName), ("code", "\(final.code)")])
        .increment()
      loop.execute {
        var withMetadata = final
        withMetadata.metadata = trailers
        handler.value.finish(stream, status: withMetadata)
      }
    }
    if runHandlersOnEventLoop, method.runsOnEventLoop {
      stream.task = Task(executorPreference: executor, operation: run)
    } else {
      stream.task = Task(operation: run)
    }
  }

  func consumed(_ bytes: Int, on stream: Stream) {
    context.eventLoop.assertInEventLoop()
    released(bytes)
    stream.consumedSinceUpdate += bytes
    guard stream.active, stream.consumedSinceUpdate >= window / 2 else { return }
    let increment = stream.consumedSinceUpdate
    stream.consumedSinceUpdate = 0
    stream.receiveCredit += increment
    emit { buffer in
      buffer.writeFrame(type: .windowUpdate, streamID: stream.id) { $0.writeInteger(UInt32(increment)) }
    }
  }
}

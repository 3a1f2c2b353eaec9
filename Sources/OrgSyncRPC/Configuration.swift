import OrgSyncProto
import OrgSyncWire

/// Limits of a connection (docs/PROTOCOL.md §6). Both sides announce theirs in the hello.
public struct ConnectionLimits: Hashable, Sendable {
  /// Largest frame payload (and so message) accepted.
  public var maxFrameSize: Int
  /// Calls served at once on one connection (server) — excess calls get RESOURCE_EXHAUSTED.
  public var maxConcurrentStreams: Int
  /// Bytes of messages a peer may send on a call before it needs WINDOW_UPDATE credit.
  public var initialWindow: Int
  /// The client pings after this long without sending anything.
  public var keepalive: Duration
  /// The server closes a connection it has heard nothing from for this long.
  public var idleTimeout: Duration
  /// The server closes a connection that has not completed its hello this long after the TCP
  /// accept: TLS, the preface and the hello together (silent, TLS-less, half-preface and
  /// preface-only connections cost a socket each). Not announced on the wire.
  public var helloTimeout: Duration = .seconds(30)

  public static var defaults: ConnectionLimits {
    ConnectionLimits(
      maxFrameSize: WireFormat.defaultMaxPayload, maxConcurrentStreams: 100, initialWindow: 1 << 20,
      keepalive: .seconds(60), idleTimeout: .seconds(300))
  }

  public init(
    maxFrameSize: Int, maxConcurrentStreams: Int, initialWindow: Int, keepalive: Duration, idleTimeout: Duration
  ) {
    self.maxFrameSize = maxFrameSize
    self.maxConcurrentStreams = maxConcurrentStreams
    self.initialWindow = initialWindow
    self.keepalive = keepalive
    self.idleTimeout = idleTimeout
  }

  var wire: Orgsync_V1_Limits {
    var limits = Orgsync_V1_Limits()
    limits.maxFrameSize = UInt32(clamping: maxFrameSize)
    limits.maxConcurrentStreams = UInt32(clamping: maxConcurrentStreams)
    limits.initialWindow = UInt32(clamping: initialWindow)
    limits.keepaliveSeconds = UInt32(clamping: keepalive.components.seconds)
    limits.idleTimeoutSeconds = UInt32(clamping: idleTimeout.components.seconds)
    return limits
  }

  /// A peer's announced limits, with 0 meaning the protocol default.
  init(wire: Orgsync_V1_Limits) {
    let d = ConnectionLimits.defaults
    self.maxFrameSize = wire.maxFrameSize == 0 ? d.maxFrameSize : Int(wire.maxFrameSize)
    self.maxConcurrentStreams = wire.maxConcurrentStreams == 0 ? d.maxConcurrentStreams : Int(wire.maxConcurrentStreams)
    self.initialWindow = wire.initialWindow == 0 ? d.initialWindow : Int(wire.initialWindow)
    self.keepalive = wire.keepaliveSeconds == 0 ? d.keepalive : .seconds(Int(wire.keepaliveSeconds))
    self.idleTimeout = wire.idleTimeoutSeconds == 0 ? d.idleTimeout : .seconds(Int(wire.idleTimeoutSeconds))
  }
}

extension Duration {
  var nanoseconds: Int64 {
    let (seconds, attoseconds) = components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}

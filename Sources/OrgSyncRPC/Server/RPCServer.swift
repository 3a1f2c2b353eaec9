import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import OrgSyncWire
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Serves `RPCService`s over the OrgSync framed protocol on TCP (optionally TLS).
///
/// A ServiceLifecycle `Service`: `run()` binds, serves until graceful shutdown is triggered
/// (or `beginGracefulShutdown()` is called), then sends GOAWAY on every connection, lets the
/// calls in flight finish (up to `shutdownGracePeriod`) and returns.
public final class RPCServer: Service, Sendable {
  /// How the server is set up.
  public struct Configuration: Sendable {
    public var host: String
    /// 0 picks a free port; read it from `localAddress()` after start.
    public var port: Int
    public var limits: ConnectionLimits
    /// TLS, when set; plaintext otherwise.
    public var tls: TLSConfiguration?
    /// Run call handlers on the connection's event loop (no thread hop per call). Handlers
    /// must then not block; storage does its blocking work on its own threads.
    public var runHandlersOnEventLoop: Bool
    public var shutdownGracePeriod: Duration
    /// Decides each HELLO. The default knows no device: anonymous connections only.
    public var authenticator: any ConnectionAuthenticator
    /// How much of the server one peer may take.
    public var peerPolicy: PeerPolicy = .defaults

    public init(
      host: String = "127.0.0.1", port: Int = 0, limits: ConnectionLimits = .defaults, tls: TLSConfiguration? = nil,
      runHandlersOnEventLoop: Bool = true, shutdownGracePeriod: Duration = .seconds(30),
      authenticator: any ConnectionAuthenticator = StoredKeyAuthenticator(storedKeys: [:])
    ) {
      self.host = host
      self.port = port
      self.limits = limits
      self.tls = tls
      self.runHandlersOnEventLoop = runHandlersOnEventLoop
      self.shutdownGracePeriod = shutdownGracePeriod
      self.authenticator = authenticator
    }
  }

  /// What the listener is doing, for health checks: an operator's "ok" must mean a device can
  /// connect now.
  public struct ListenerStatus: Sendable {
    public enum Phase: Sendable, Equatable {
      case starting
      case listening
      case stopping
      case stopped
      case failed(String)
    }
    public var phase: Phase
    public var address: SocketAddress?
    public var tls: Bool
    public var openConnections: Int
    /// Connections taken in since start (admitted to say their hello).
    public var accepted: Int
    /// When the TLS certificate the server presents stops being valid (seconds since 1970).
    public var certificateNotAfter: Int?
    public var sinceLastAccept: Duration?
    public var sinceLastHello: Duration?
  }

  private struct State {
    var phase: ListenerStatus.Phase = .starting
    var accepted = 0
    var lastAccept: ContinuousClock.Instant?
    var boundAddress: SocketAddress?
    var addressWaiters: [CheckedContinuation<SocketAddress, any Error>] = []
    var serverChannel: (any Channel)?
    var connections: [ObjectIdentifier: (handler: ServerConnectionHandler, channel: any Channel)] = [:]
    var shuttingDown = false
    var failure: (any Error)?
  }

  private let configuration: Configuration
  private let router: Router
  private let group: any EventLoopGroup
  private let logger: Logger
  private let state = Mutex(State())
  private let peerGuard: PeerGuard

  public init(
    configuration: Configuration, services: [any RPCService],
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "orgsync.rpc.server")
  ) {
    self.configuration = configuration
    self.router = Router(services: services)
    self.peerGuard = PeerGuard(policy: configuration.peerPolicy)
    self.group = group
    self.logger = logger
  }

  /// The address the server listens on; waits until it is bound.
  public func localAddress() async throws -> SocketAddress {
    try await withCheckedThrowingContinuation { continuation in
      state.withLock { state in
        if let address = state.boundAddress {
          continuation.resume(returning: address)
        } else if let failure = state.failure {
          continuation.resume(throwing: failure)
        } else {
          state.addressWaiters.append(continuation)
        }
      }
    }
  }

  /// Number of open connections.
  public var connectionCount: Int { state.withLock { $0.connections.count } }

  /// Connections that have not finished their hello (for tests and the flood benchmark).
  var unprovenConnections: Int { peerGuard.unprovenCount() }
  var peerGuardForTests: PeerGuard { peerGuard }

  private var certificateNotAfter: Int? {
    guard case .certificate(let certificate)? = configuration.tls?.certificateChain.first else { return nil }
    return Int(certificate.notValidAfter)
  }

  /// The listener's state now.
  public var status: ListenerStatus {
    let now = ContinuousClock.now
    let lastHello = peerGuard.lastHello
    return state.withLock { state in
      ListenerStatus(
        phase: state.phase, address: state.boundAddress, tls: configuration.tls != nil,
        openConnections: state.connections.count, accepted: state.accepted,
        certificateNotAfter: certificateNotAfter, sinceLastAccept: state.lastAccept.map { now - $0 },
        sinceLastHello: lastHello.map { now - $0 })
    }
  }

  public func run() async throws {
    do {
      try await serve()
      state.withLock { $0.phase = .stopped }
    } catch is CancellationError where Task.isCancelled {
      state.withLock { $0.phase = .stopped }  // stopped from outside: not a failure
    } catch {
      let failure = ListenerError(error, host: configuration.host, port: configuration.port)
      state.withLock { $0.phase = .failed(failure.message) }
      throw failure
    }
  }

  private func serve() async throws {
    let sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0.modernOnly) }
    let serverChannel: NIOAsyncChannel<any Channel, Never>
    do {
      serverChannel = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .bind(host: configuration.host, port: configuration.port) { channel in
          channel.eventLoop.makeCompletedFuture {
            try self.configure(channel, sslContext: sslContext)
            return channel
          }
        }
    } catch {
      let waiters = state.withLock { state in
        state.failure = error
        defer { state.addressWaiters = [] }
        return state.addressWaiters
      }
      for waiter in waiters { waiter.resume(throwing: error) }
      throw error
    }
    let address = serverChannel.channel.localAddress!
    let waiters = state.withLock { state in
      state.boundAddress = address
      state.serverChannel = serverChannel.channel
      defer { state.addressWaiters = [] }
      return state.addressWaiters
    }
    for waiter in waiters { waiter.resume(returning: address) }
    logger.info(
      "listening",
      metadata: ["address": "\(address.ipAddress ?? "?"):\(address.port ?? 0)", "tls": "\(configuration.tls != nil)"])
    let stopping = state.withLock { state in
      if !state.shuttingDown { state.phase = .listening }
      return state.shuttingDown
    }
    if stopping { serverChannel.channel.close(promise: nil) }

    // Cancelled (the process stops because another part failed, or stopping took too long):
    // close every connection at once so that nothing below waits on a peer.
    try await withTaskCancellationHandler {
      try await serveConnections(serverChannel)
    } onCancel: {
      self.beginGracefulShutdown()
      self.forceCloseAll()
    }
    logger.info("stopped")
  }

  private func serveConnections(_ serverChannel: NIOAsyncChannel<any Channel, Never>) async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        try await serverChannel.executeThenClose { inbound in
          for try await connection in inbound {
            group.addTask {
              // Each connection lives in its own child task; a failing one is closed and
              // logged, never taking the server down.
              try? await connection.closeFuture.get()
            }
          }
        }
        // No longer accepting: drain the open connections, then force-close stragglers.
        let grace = configuration.shutdownGracePeriod
        group.addTask {
          try? await Task.sleep(for: grace)
          let busy = self.connectionCount
          if busy > 0 {
            self.logger.warning(
              "grace period over: closing connections still busy", metadata: ["connections": "\(busy)"])
          }
          self.forceCloseAll()
        }
        try await self.waitForConnectionsToClose()
        group.cancelAll()
      }
    } onGracefulShutdown: {
      self.beginGracefulShutdown()
    }
  }

  /// Stops accepting and sends GOAWAY on every connection; `run()` returns once they close.
  public func beginGracefulShutdown() {
    let (channel, connections) = state.withLock { state in
      state.shuttingDown = true
      if state.phase == .listening || state.phase == .starting { state.phase = .stopping }
      return (state.serverChannel, Array(state.connections.values))
    }
    channel?.close(promise: nil)
    for connection in connections {
      connection.channel.eventLoop.execute { connection.handler.beginDrain() }
    }
  }

  private func forceCloseAll() {
    let connections = state.withLock { Array($0.connections.values) }
    for connection in connections { connection.channel.close(promise: nil) }
  }

  /// Returns when every connection closed, or shortly after the grace period forced them to.
  private func waitForConnectionsToClose() async throws {
    let giveUp = ContinuousClock.now + configuration.shutdownGracePeriod + .seconds(5)
    while state.withLock({ !$0.connections.isEmpty }) {
      if ContinuousClock.now > giveUp {
        logger.warning("connections still listed after the grace period; stopping anyway")
        return
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  private func configure(_ channel: any Channel, sslContext: NIOSSLContext?) throws {
    let limits = configuration.limits
    state.withLock { state in
      state.accepted += 1
      state.lastAccept = .now
    }
    let handler = ServerConnectionHandler(
      router: router, limits: limits, authenticator: configuration.authenticator,
      runHandlersOnEventLoop: configuration.runHandlersOnEventLoop, logger: logger, peerGuard: peerGuard,
      countedBeforeHello: true,
      onClose: { [weak self] id in _ = self?.state.withLock { $0.connections.removeValue(forKey: id) } })
    // Admitted always; when unfinished connections crowd the server, the oldest of the most
    // crowded address is closed instead (PeerGuard.admit).
    peerGuard.admit(connection: ObjectIdentifier(handler), address: PeerGuard.addressKey(channel.remoteAddress)) {
      [weak channel] in channel?.close(promise: nil)
    }
    // The handshake deadline runs from the accept: TLS, the preface and the hello together. A
    // connection that never starts TLS is closed by it as surely as one that stalls later.
    let handshake = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(limits.helloTimeout.nanoseconds)) {
      [weak channel] in
      guard handshake.value.countedBeforeHello else { return }
      Counter(label: "orgsync_handshakes_timed_out_total").increment()
      handshake.value.handshakeDeadlinePassed()
      channel?.close(promise: nil)
    }
    let id = ObjectIdentifier(handler)
    let (draining, open) = state.withLock { state in
      state.connections[id] = (handler, channel)
      return (state.shuttingDown, state.connections.count)
    }
    Gauge(label: "orgsync_connections").record(open)
    // The handler reports its close from channelInactive, but a channel that closes before the
    // handler is in its pipeline (accepted during a drain, reset by the peer at once) never
    // tells it; the close future always completes, so a drain can never wait on a ghost.
    let loopBound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
    channel.closeFuture.whenComplete { [weak self] _ in
      deadline.cancel()
      loopBound.value.leaveHelloCount()
      guard let self else { return }
      let open = self.state.withLock { state in
        state.connections.removeValue(forKey: id)
        return state.connections.count
      }
      Gauge(label: "orgsync_connections").record(open)
    }
    let sync = channel.pipeline.syncOperations
    // Marks the connection as one that has begun to talk (first bytes, before TLS), so that
    // silent ones are closed before it when unfinished connections crowd the server.
    try sync.addHandler(FirstBytesWatcher(peerGuard: peerGuard, connection: ObjectIdentifier(handler)))
    if let sslContext {
      try sync.addHandler(NIOSSLServerHandler(context: sslContext))
    }
    try sync.addHandler(
      ByteToMessageHandler(FrameDecoder(parser: FrameParser(maxPayloadSize: limits.maxFrameSize))))
    try sync.addHandler(IdleStateHandler(readTimeout: .nanoseconds(limits.idleTimeout.nanoseconds)))
    try sync.addHandler(handler)
    if draining { channel.close(promise: nil) }
  }
}

/// Why the listener could not serve, in an operator's words (the port in use, an address that
/// is not this machine's, a port that needs privileges), with the system's error beside it.
public struct ListenerError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public let underlying: String

  /// `what` names the listener in the message ("devices", "the admin port").
  public init(_ error: any Error, host: String, port: Int, what: String = "devices") {
    if let known = error as? ListenerError {
      self = known
      return
    }
    let place = "\(host):\(port) for \(what)"
    underlying = "\(error)"
    switch (error as? IOError)?.errnoCode {
    case EADDRINUSE:
      message = "cannot listen on \(place): the port is in use by another program (another orgsyncd?)"
    case EADDRNOTAVAIL:
      message = "cannot listen on \(place): \(host) is not an address of this machine"
    case _ where error is SocketAddressError || error is SocketAddressError.UnknownHost:
      message = "cannot listen on \(place): \(host) is neither an IP address nor a name this machine knows"
    case EACCES:
      message = "cannot listen on \(place): no permission (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
    default:
      message = "cannot serve on \(place): \(error)"
    }
  }

  public var description: String { message }
}

/// Runs a server for the duration of `body`, then shuts it down gracefully.
public func withRPCServer<Result: Sendable>(
  configuration: RPCServer.Configuration, services: [any RPCService],
  _ body: (RPCServer, SocketAddress) async throws -> Result
) async throws -> Result {
  let server = RPCServer(configuration: configuration, services: services)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await server.run() }
    do {
      let address = try await server.localAddress()
      let result = try await body(server, address)
      server.beginGracefulShutdown()
      try await group.waitForAll()
      return result
    } catch {
      server.beginGracefulShutdown()
      try? await group.waitForAll()
      throw error
    }
  }
}

/// Tells the peer guard when a connection sends its first bytes, then leaves the pipeline.
final class FirstBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer
  let peerGuard: PeerGuard
  let connection: ObjectIdentifier

  init(peerGuard: PeerGuard, connection: ObjectIdentifier) {
    self.peerGuard = peerGuard
    self.connection = connection
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    peerGuard.spoke(connection: connection)
    context.fireChannelRead(data)
    context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
  }
}

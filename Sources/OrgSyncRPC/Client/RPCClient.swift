import Logging
import NIOCore
import NIOPosix
import NIOSSL
import OrgSyncWire
import SwiftProtobuf
import Synchronization

/// Per-call options.
public struct CallOptions: Sendable {
  /// How long the caller waits; the server stops working on the call after it too.
  public var timeout: Duration?
  public var metadata: Metadata

  public init(timeout: Duration? = nil, metadata: Metadata = [:]) {
    self.timeout = timeout
    self.metadata = metadata
  }

  public static var defaults: CallOptions { CallOptions() }
}

/// A client of one OrgSync server: one connection at a time, shared by every call (calls are
/// multiplexed by stream id), made on first use and made again after it drops.
///
/// While the server cannot be reached, calls fail at once with `UNAVAILABLE` instead of
/// queueing; a new connection attempt is made after a backoff that doubles from
/// `backoff.initial` up to `backoff.maximum`.
public final class RPCClient: Sendable {
  public struct Configuration: Sendable {
    public struct Backoff: Sendable, Hashable {
      public var initial: Duration
      public var maximum: Duration
      public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(10)) {
        self.initial = initial
        self.maximum = maximum
      }
    }

    public var host: String
    public var port: Int
    public var identity: ClientIdentity?
    public var tls: TLSConfiguration?
    /// Host name checked against the server's certificate (defaults to `host`).
    public var tlsServerName: String?
    public var connectTimeout: Duration
    public var backoff: Backoff
    public var limits: ConnectionLimits
    /// Offer compressed messages in the hello (PROTOCOL.md §3.1); the server decides.
    public var compression = true

    public init(
      host: String, port: Int, identity: ClientIdentity? = nil, tls: TLSConfiguration? = nil,
      tlsServerName: String? = nil, connectTimeout: Duration = .seconds(10), backoff: Backoff = Backoff(),
      limits: ConnectionLimits = .defaults
    ) {
      self.host = host
      self.port = port
      self.identity = identity
      self.tls = tls
      self.tlsServerName = tlsServerName
      self.connectTimeout = connectTimeout
      self.backoff = backoff
      self.limits = limits
    }
  }

  private enum ConnectionState {
    case idle
    case connecting(EventLoopFuture<ClientConnection>)
    case connected(ClientConnection)
    case backingOff(until: NIODeadline, error: RPCError)
    case closed
  }

  private struct State {
    var connection = ConnectionState.idle
    /// The wait after the next failed attempt; doubles per failure, reset by a success.
    var backoff: Duration
  }

  private let configuration: Configuration
  private let group: any EventLoopGroup
  private let logger: Logger
  private let sslContext: NIOSSLContext?
  private let state: Mutex<State>
  private let calls = Atomic<Int>(0)

  /// How many calls this client has started (for metrics, and to count round trips).
  public var callsStarted: Int { calls.load(ordering: .relaxed) }

  public init(
    configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger = Logger(label: "orgsync.rpc.client")
  ) throws {
    self.configuration = configuration
    self.group = group
    self.logger = logger
    self.sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0.modernOnly) }
    self.state = Mutex(State(backoff: configuration.backoff.initial))
  }

  /// Closes the connection; later calls fail with UNAVAILABLE.
  public func close() async {
    let previous = state.withLock { state in
      defer { state.connection = .closed }
      return state.connection
    }
    switch previous {
    case .connected(let connection): try? await connection.channel.close()
    case .connecting(let future): try? await future.get().channel.close()
    default: break
    }
  }

  /// Drops the current connection (if any) without closing the client: the next call makes a
  /// new one. After a call timed out on a bad link, a fresh connection is the better bet than
  /// one that may be stalled.
  public func dropConnection() async {
    let previous: ClientConnection? = state.withLock { state in
      guard case .connected(let connection) = state.connection else { return nil }
      state.connection = .idle
      return connection
    }
    try? await previous?.channel.close()
  }

  /// A task executor on the current connection's event loop. A caller that runs its loop of
  /// calls under `withTaskExecutorPreference(executor)` makes each call with no thread hop.
  public func connectionTaskExecutor() async throws -> any TaskExecutor {
    EventLoopTaskExecutor(try await connection().channel.eventLoop)
  }

  // MARK: Calls

  /// One request, one response.
  public func unary<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, _ request: Req, options: CallOptions = .defaults
  ) async throws -> Resp {
    let payload = try encodeMessage(request)
    var attempt = 0
    while true {
      let connection = try await connection()
      do {
        let response = try await connection.unary(method.fullName, payload, options: options)
        do {
          return try Resp(buffer: response)
        } catch {
          throw RPCError(code: .internal, message: "the server's \(Resp.protoMessageName) does not decode")
        }
      } catch let error as RPCError where error.cause is NotStarted && attempt == 0 {
        attempt += 1  // the server never started it (GOAWAY): safe to send again
      }
    }
  }

  /// One request, a stream of responses, read in `body`.
  public func serverStreaming<Req, Resp, Result: Sendable>(
    _ method: MethodDescriptor<Req, Resp>, _ request: Req, options: CallOptions = .defaults,
    _ body: (ResponseStream<Resp>) async throws -> Result
  ) async throws -> Result {
    let payload = try encodeMessage(request)
    let call = try await connection().openStreaming(method.fullName, options: options, first: payload, endStream: true)
    return try await call.withCancellationOnExit {
      try await body(ResponseStream(queue: call.responses))
    }
  }

  /// A stream of requests, written in `body`, and one response.
  public func clientStreaming<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, options: CallOptions = .defaults,
    _ body: (RequestWriter<Req>) async throws -> Void
  ) async throws -> Resp {
    let call = try await connection().openStreaming(method.fullName, options: options, first: nil, endStream: false)
    return try await call.withCancellationOnExit {
      try await body(RequestWriter(call: call))
      try await call.finishSending()
      var responses = ResponseStream<Resp>(queue: call.responses).makeAsyncIterator()
      guard let response = try await responses.next() else {
        throw RPCError(code: .internal, message: "the server sent no response message")
      }
      return response
    }
  }

  /// Streams both ways: `body` gets the writer and the responses.
  public func bidirectional<Req, Resp, Result: Sendable>(
    _ method: MethodDescriptor<Req, Resp>, options: CallOptions = .defaults,
    _ body: (RequestWriter<Req>, ResponseStream<Resp>) async throws -> Result
  ) async throws -> Result {
    let call = try await connection().openStreaming(method.fullName, options: options, first: nil, endStream: false)
    return try await call.withCancellationOnExit {
      try await body(RequestWriter(call: call), ResponseStream(queue: call.responses))
    }
  }

  // MARK: Connection management

  func connection() async throws -> ClientConnection {
    calls.add(1, ordering: .relaxed)
    enum Next {
      case use(ClientConnection)
      case wait(EventLoopFuture<ClientConnection>)
    }
    let next: Next = try state.withLock { state in
      switch state.connection {
      case .connected(let connection) where connection.isUsable:
        return .use(connection)
      case .connecting(let future):
        return .wait(future)
      case .backingOff(let until, let error) where NIODeadline.now() < until:
        throw error
      case .closed:
        throw RPCError(code: .unavailable, message: "the client is closed")
      case .connected, .backingOff, .idle:
        let future = connect()
        state.connection = .connecting(future)
        return .wait(future)
      }
    }
    switch next {
    case .use(let connection):
      return connection
    case .wait(let future):
      return try await future.get()
    }
  }

  private func connect() -> EventLoopFuture<ClientConnection> {
    let loop = group.next()
    let ready = loop.makePromise(of: Void.self)
    let configuration = self.configuration
    let sslContext = self.sslContext
    let logger = self.logger
    let flag = UsableFlag()
    let bootstrap = ClientBootstrap(group: loop)
      .connectTimeout(.nanoseconds(configuration.connectTimeout.nanoseconds))
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let sync = channel.pipeline.syncOperations
          if let sslContext {
            // An IP literal cannot be sent as SNI; NIOSSL then checks the certificate's IP
            // addresses against the address connected to.
            let isIPLiteral = (try? SocketAddress(ipAddress: configuration.host, port: 0)) != nil
            try sync.addHandler(
              NIOSSLClientHandler(
                context: sslContext,
                serverHostname: configuration.tlsServerName ?? (isIPLiteral ? nil : configuration.host)))
          }
          try sync.addHandler(
            ByteToMessageHandler(FrameDecoder(parser: FrameParser(maxPayloadSize: configuration.limits.maxFrameSize))))
          try sync.addHandler(
            IdleStateHandler(writeTimeout: .nanoseconds(configuration.limits.keepalive.nanoseconds)))
          try sync.addHandler(
            ClientConnectionHandler(
              identity: configuration.identity, limits: configuration.limits, compression: configuration.compression,
              readyPromise: ready, logger: logger,
              onUnusable: { flag.markUnusable() }))
        }
      }
    // The hello must complete within the connect timeout too: a server that accepts TCP but
    // never answers (a TLS-only port, a hung process) must not hold calls forever.
    let handshakeTimer = loop.scheduleTask(in: .nanoseconds(configuration.connectTimeout.nanoseconds)) {
      ready.fail(RPCError(code: .unavailable, message: "the server did not complete the handshake in time"))
    }
    ready.futureResult.whenComplete { _ in handshakeTimer.cancel() }
    let future = bootstrap.connect(host: configuration.host, port: configuration.port)
      .flatMap { channel in
        ready.futureResult.map { channel }.flatMapErrorThrowing { error in
          channel.close(promise: nil)
          throw error
        }
      }
      .flatMapThrowing { channel -> ClientConnection in
        let handler = try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self)
        return ClientConnection(channel: channel, handler: handler, flag: flag)
      }
      .flatMapErrorThrowing { error -> ClientConnection in
        ready.fail(error)
        if let rpc = error as? RPCError, rpc.code == .unauthenticated { throw rpc }
        if let rpc = error as? RPCError, rpc.isUntrustedServer {
          throw RPCError(
            code: .unavailable,
            message:
              "the server at \(configuration.host):\(configuration.port) presented a certificate not signed by the county's authority",
            cause: rpc.cause)
        }
        throw RPCError(
          code: .unavailable, message: "cannot reach the server at \(configuration.host):\(configuration.port)",
          cause: error as? any Error & Sendable)
      }
    future.whenComplete { result in
      self.state.withLock { state in
        guard case .connecting = state.connection else { return }
        switch result {
        case .success(let connection):
          state.connection = .connected(connection)
          state.backoff = configuration.backoff.initial
        case .failure(let error):
          let delay = state.backoff
          let rpc = (error as? RPCError) ?? RPCError(code: .unavailable, message: "\(error)")
          state.connection = .backingOff(until: .now() + .nanoseconds(delay.nanoseconds), error: rpc)
          state.backoff = min(delay * 2, configuration.backoff.maximum)
        }
      }
    }
    return future
  }
}

/// Set once a connection can take no new calls.
final class UsableFlag: Sendable {
  private let value = Atomic<Bool>(true)
  func markUnusable() { value.store(false, ordering: .relaxed) }
  var isUsable: Bool { value.load(ordering: .relaxed) }
}

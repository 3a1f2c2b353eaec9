import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import OrgSyncRPC
import OrgSyncStore
import Prometheus
import ServiceLifecycle

/// The admin port: `GET /metrics` in Prometheus text format; `GET /health` for monitoring (200
/// and "ok" only when a device could sync now: the sync listener accepts, the database can be
/// written and the disk has room; 503 with the reason otherwise); `GET /live` for a supervisor
/// (200 while the process answers at all: restarting a server whose disk is full cures nothing).
/// Plain HTTP/1.1 on its own port (bind it to 127.0.0.1 or an admin network).
public final class AdminServer: Service, Sendable {
  let host: String
  let port: Int
  let registry: PrometheusCollectorRegistry
  let logger: Logger
  let health: @Sendable () async -> StoreHealth
  let databaseBytes: (@Sendable () async -> Int64)?

  public init(
    host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger,
    health: @escaping @Sendable () async -> StoreHealth = { StoreHealth(ok: true, lines: [], databaseBytes: 0) },
    databaseBytes: (@Sendable () async -> Int64)? = nil
  ) {
    self.host = host
    self.port = port
    self.registry = registry
    self.logger = logger
    self.health = health
    self.databaseBytes = databaseBytes
  }

  public func run() async throws {
    let channel: any Channel
    do {
      channel = try await bindChannel()
    } catch {
      throw ListenerError(error, host: host, port: port, what: "the admin port")
    }
    logger.info("admin port", metadata: ["address": "\(channel.localAddress!)"])
    // Ends on graceful shutdown and on cancellation alike (a failed start cancels the group,
    // and a service that waits on a future regardless would keep the process alive).
    try await withTaskCancellationHandler {
      try await withGracefulShutdownHandler {
        try await channel.closeFuture.get()
      } onGracefulShutdown: {
        channel.close(promise: nil)
      }
    } onCancel: {
      channel.close(promise: nil)
    }
  }

  private func bindChannel() async throws -> any Channel {
    let registry = self.registry
    let health = self.health
    let databaseBytes = self.databaseBytes
    let logger = self.logger
    return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
          channel.pipeline.addHandler(
            MetricsHandler(registry: registry, health: health, databaseBytes: databaseBytes, logger: logger))
        }
      }
      .bind(host: host, port: port).get()
  }
}

final class MetricsHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart
  let registry: PrometheusCollectorRegistry
  let health: @Sendable () async -> StoreHealth
  let databaseBytes: (@Sendable () async -> Int64)?
  let logger: Logger

  init(
    registry: PrometheusCollectorRegistry, health: @escaping @Sendable () async -> StoreHealth,
    databaseBytes: (@Sendable () async -> Int64)?, logger: Logger
  ) {
    self.registry = registry
    self.health = health
    self.databaseBytes = databaseBytes
    self.logger = logger
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let request) = unwrapInboundIn(data) else { return }
    let registry = self.registry
    let health = self.health
    let databaseBytes = self.databaseBytes
    let logger = self.logger
    let promise = context.eventLoop.makePromise(of: (HTTPResponseStatus, [UInt8]).self)
    promise.completeWithTask {
      switch request.uri {
      case "/metrics":
        // The database's size is read when scraped (without the listener probe of /health: a
        // scrape every few seconds should not open a connection each time).
        let bytes: Int64
        if let databaseBytes { bytes = await databaseBytes() } else { bytes = await health().databaseBytes }
        Gauge(label: "orgsync_database_bytes").record(bytes)
        return (.ok, registry.emitToBuffer())
      case "/live":
        return (.ok, Array("alive\n".utf8))
      case "/health":
        let state = await health()
        if !state.ok {
          logger.error("health check failed", metadata: ["checks": "\(state.lines.joined(separator: "; "))"])
        }
        let text = (state.ok ? "ok\n" : "FAIL\n") + state.lines.map { $0 + "\n" }.joined()
        return (state.ok ? .ok : .serviceUnavailable, Array(text.utf8))
      default:
        return (.notFound, Array("not found\n".utf8))
      }
    }
    let context = NIOLoopBound(context, eventLoop: context.eventLoop)
    promise.futureResult.whenSuccess { status, body in
      self.respond(context.value, request: request, status: status, body: body)
    }
  }

  private func respond(
    _ context: ChannelHandlerContext, request: HTTPRequestHead, status: HTTPResponseStatus, body: [UInt8]
  ) {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
    headers.add(name: "Content-Length", value: String(body.count))
    headers.add(name: "Connection", value: "close")
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil
    )
    context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
  }
}

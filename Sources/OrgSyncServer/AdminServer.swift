import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The admin port: `GET /metrics` in Prometheus text format, `GET /health` for probes.
/// Plain HTTP/1.1 on its own port (bind it to 127.0.0.1 or an admin network).
public final class AdminServer: Service, Sendable {
  let host: String
  let port: Int
  let registry: PrometheusCollectorRegistry
  let logger: Logger

  public init(host: String, port: Int, registry: PrometheusCollectorRegistry, logger: Logger) {
    self.host = host
    self.port = port
    self.registry = registry
    self.logger = logger
  }

  public func run() async throws {
    let registry = self.registry
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
          channel.pipeline.addHandler(MetricsHandler(registry: registry))
        }
      }
      .bind(host: host, port: port).get()
    logger.info("admin port", metadata: ["address": "\(channel.localAddress!)"])
    try await withGracefulShutdownHandler {
      try await channel.closeFuture.get()
    } onGracefulShutdown: {
      channel.close(promise: nil)
    }
  }
}

final class MetricsHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart
  let registry: PrometheusCollectorRegistry

  init(registry: PrometheusCollectorRegistry) { self.registry = registry }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let request) = unwrapInboundIn(data) else { return }
    let (status, body): (HTTPResponseStatus, [UInt8]) =
      switch request.uri {
      case "/metrics": (.ok, registry.emitToBuffer())
      case "/health": (.ok, Array("ok\n".utf8))
      default: (.notFound, Array("not found\n".utf8))
      }
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

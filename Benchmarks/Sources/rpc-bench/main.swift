// Small unary calls: OrgSync RPC against grpc-swift-2 (HTTP/2, plaintext) and a bare SwiftNIO
// length-prefixed echo (the ceiling). Server and client run as separate processes:
//
//   rpc-bench server <orgsync|grpc|grpc-noflush|nio|nio-handler> <port>
//   rpc-bench client <orgsync|orgsync-onloop|grpc|grpc-noflush|nio|nio-handler> <port> <seq|par64> <seconds>
//
// The client prints one JSON line: calls/s and latency percentiles. Scripts/bench-rpc.sh runs
// the whole matrix.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import NIOCore
import NIOPosix
import OrgSyncProto
import OrgSyncRPC

typealias Entry = Orgsync_V1_MetadataEntry

/// ~100 bytes encoded, as the benchmark asks.
let payload: Entry = {
  var entry = Entry()
  entry.key = "bench/orgsync.v1.Sync/Echo/0123456789"
  entry.value = String(repeating: "太", count: 18) + "abcdef"
  return entry
}()

let echoMethod = OrgSyncRPC.MethodDescriptor<Entry, Entry>(service: "bench.Echo", method: "Unary")
let grpcMethod = GRPCCore.MethodDescriptor(fullyQualifiedService: "bench.Echo", method: "Unary")
let benchIdentity = ClientIdentity(deviceID: Array("bench-device".utf8), secret: Array(repeating: 7, count: 32))

struct EchoService: RPCService {
  var methods: [ServerMethod] { [.unary(echoMethod) { request, _ in request }] }
}

struct GRPCEcho: RegistrableRPCService {
  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    router.registerHandler(
      forMethod: grpcMethod, deserializer: ProtobufDeserializer<Entry>(), serializer: ProtobufSerializer<Entry>()
    ) { request, _ in
      var iterator = request.messages.makeAsyncIterator()
      let message = try await iterator.next()!
      return StreamingServerResponse(single: ServerResponse(message: message))
    }
  }
}

// MARK: Servers

func runServer(_ impl: String, port: Int) async throws {
  switch impl {
  case "orgsync":
    let server = RPCServer(
      configuration: .init(
        host: "127.0.0.1", port: port, limits: .defaults,
        authenticator: StoredKeyAuthenticator(
          storedKeys: [benchIdentity.deviceID: HelloProof.storedKey(secret: benchIdentity.secret)])),
      services: [EchoService()])
    try await server.run()
  case "grpc":
    let server = GRPCServer(
      transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext),
      services: [GRPCEcho()])
    try await server.serve()
  case "grpc-noflush":
    // grpc-swift-2 as its docs advise for latency-sensitive work: no flush coalescing.
    let server = GRPCServer(
      transport: .http2NIOPosix(
        address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext,
        config: .defaults { $0.connection.flushCoalescing = nil }),
      services: [GRPCEcho()])
    try await server.serve()
  case "nio":
    try await runNIOEchoServer(port: port)
  case "nio-handler":
    try await runNIOHandlerEchoServer(port: port)
  default:
    fatalError("unknown server \(impl)")
  }
}

/// Echoes 4-byte length-prefixed frames, written with async/await like a simple server would be.
func runNIOEchoServer(port: Int) async throws {
  let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .bind(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  try await withThrowingDiscardingTaskGroup { group in
    try await server.executeThenClose { inbound in
      for try await connection in inbound {
        group.addTask {
          try? await connection.executeThenClose { input, output in
            for try await frame in input {
              var out = ByteBuffer()
              out.writeInteger(UInt32(frame.readableBytes))
              out.writeImmutableBuffer(frame)
              try await output.write(out)
            }
          }
        }
      }
    }
  }
}

struct LengthPrefixDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer
  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
      buffer.readableBytes >= 4 + Int(length)
    else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
    return .continue
  }
}

// MARK: Clients

/// Runs `call` in `concurrency` loops for `seconds`, recording each call's latency.
func measure(concurrency: Int, seconds: Double, _ call: @escaping @Sendable () async throws -> Void) async throws
  -> [UInt64]
{
  // Warm up (connections, caches) before the clock starts.
  for _ in 0..<200 { try await call() }
  let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
  return try await withThrowingTaskGroup(of: [UInt64].self) { group in
    for _ in 0..<concurrency {
      group.addTask {
        var latencies: [UInt64] = []
        latencies.reserveCapacity(1 << 16)
        while ContinuousClock.now < end {
          let start = ContinuousClock.now
          try await call()
          let elapsed = ContinuousClock.now - start
          latencies.append(
            UInt64(elapsed.components.attoseconds / 1_000_000_000) + UInt64(elapsed.components.seconds) * 1_000_000_000)
        }
        return latencies
      }
    }
    var all: [UInt64] = []
    for try await part in group { all += part }
    return all
  }
}

func report(impl: String, mode: String, seconds: Double, latencies: [UInt64]) {
  let sorted = latencies.sorted()
  func percentile(_ p: Double) -> Double {
    sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
  }
  let line: [String: Any] = [
    "impl": impl, "mode": mode, "calls": sorted.count, "seconds": seconds,
    "calls_per_s": Int(Double(sorted.count) / seconds),
    "p50_us": (percentile(0.50) * 10).rounded() / 10, "p99_us": (percentile(0.99) * 10).rounded() / 10,
  ]
  let data = try! JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}

func runClient(_ impl: String, port: Int, mode: String, seconds: Double) async throws {
  let concurrency = mode == "seq" ? 1 : 64
  switch impl {
  case "orgsync", "orgsync-onloop":
    let client = try RPCClient(configuration: .init(host: "127.0.0.1", port: port, identity: benchIdentity))
    let call: @Sendable () async throws -> Void = { _ = try await client.unary(echoMethod, payload) }
    let latencies: [UInt64]
    if impl == "orgsync-onloop" {
      let executor = try await client.connectionTaskExecutor()
      latencies = try await withTaskExecutorPreference(executor) {
        try await measure(concurrency: concurrency, seconds: seconds, call)
      }
    } else {
      latencies = try await measure(concurrency: concurrency, seconds: seconds, call)
    }
    report(impl: impl, mode: mode, seconds: seconds, latencies: latencies)
    await client.close()
  case "grpc", "grpc-noflush":
    // grpc-noflush: flush coalescing off, as grpc-swift-2's docs advise for latency-sensitive work.
    let config = HTTP2ClientTransport.Posix.Config.defaults {
      if impl == "grpc-noflush" { $0.connection.flushCoalescing = nil }
    }
    try await withGRPCClient(
      transport: .http2NIOPosix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext, config: config)
    ) { client in
      let latencies = try await measure(concurrency: concurrency, seconds: seconds) {
        _ = try await client.unary(
          request: ClientRequest(message: payload), descriptor: grpcMethod,
          serializer: ProtobufSerializer<Entry>(), deserializer: ProtobufDeserializer<Entry>(),
          options: .defaults
        ) { try $0.message }
      }
      report(impl: impl, mode: mode, seconds: seconds, latencies: latencies)
      client.beginGracefulShutdown()
    }
  case "nio":
    try await runNIOClient(port: port, mode: mode, seconds: seconds)
  case "nio-handler":
    try await runNIOHandlerClient(port: port, mode: mode, seconds: seconds)
  default:
    fatalError("unknown client \(impl)")
  }
}

/// The ceiling: one connection, async/await; sequential, or 64 requests kept in flight.
func runNIOClient(port: Int, mode: String, seconds: Double) async throws {
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .channelOption(.socketOption(.tcp_nodelay), value: 1)
    .connect(host: "127.0.0.1", port: port) { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
      }
    }
  let body: [UInt8] = try payload.serializedBytes()
  var frame = ByteBuffer()
  frame.writeInteger(UInt32(body.count))
  frame.writeBytes(body)
  let request = frame
  let window = mode == "seq" ? 1 : 64
  try await channel.executeThenClose { input, output in
    var iterator = input.makeAsyncIterator()
    var starts: [ContinuousClock.Instant] = []
    var latencies: [UInt64] = []
    func nanos(_ d: Duration) -> UInt64 {
      UInt64(d.components.seconds) * 1_000_000_000 + UInt64(d.components.attoseconds / 1_000_000_000)
    }
    for _ in 0..<200 {
      try await output.write(request)
      _ = try await iterator.next()
    }
    let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    for _ in 0..<window {
      starts.append(.now)
      try await output.write(request)
    }
    var head = 0
    while true {
      guard try await iterator.next() != nil else { break }
      latencies.append(nanos(.now - starts[head]))
      head += 1
      if ContinuousClock.now < end {
        starts.append(.now)
        try await output.write(request)
      } else if head == starts.count {
        break
      }
    }
    report(impl: "nio", mode: mode, seconds: seconds, latencies: latencies)
  }
}

// MARK: The machine's ceiling: channel handlers only, no tasks

/// Echoes each length-prefixed frame from a channel handler on the connection's event loop,
/// flushing once per read burst: no hop to Swift's task pool, nothing but framing.
func runNIOHandlerEchoServer(port: Int) async throws {
  let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
        try channel.pipeline.syncOperations.addHandler(EchoHandler())
      }
    }
    .bind(host: "127.0.0.1", port: port).get()
  try await channel.closeFuture.get()
}

final class EchoHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    var out = context.channel.allocator.buffer(capacity: 4 + frame.readableBytes)
    out.writeInteger(UInt32(frame.readableBytes))
    out.writeImmutableBuffer(frame)
    context.write(wrapOutboundOut(out), promise: nil)
  }

  func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

/// Keeps `window` requests in flight from a channel handler, sending the next as each answer
/// arrives, until `seconds` have passed; answers come back in order, so a queue of send times
/// gives each call's latency.
final class PipelinedClientHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer
  let request: ByteBuffer
  let window: Int
  let seconds: Double
  let done: EventLoopPromise<[UInt64]>
  var starts: [UInt64] = []
  var head = 0
  var latencies: [UInt64] = []
  var end: UInt64 = 0
  var warmup = 200

  init(request: ByteBuffer, window: Int, seconds: Double, done: EventLoopPromise<[UInt64]>) {
    self.request = request
    self.window = window
    self.seconds = seconds
    self.done = done
    latencies.reserveCapacity(1 << 20)
  }

  static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

  func send(_ context: ChannelHandlerContext) {
    starts.append(Self.now())
    context.write(wrapOutboundOut(request), promise: nil)
  }

  func channelActive(context: ChannelHandlerContext) {
    send(context)  // the warm-up runs one at a time
    context.flush()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let now = Self.now()
    if warmup > 0 {
      warmup -= 1
      starts.removeAll()
      if warmup == 0 {
        end = now + UInt64(seconds * 1e9)
        for _ in 0..<window { send(context) }
      } else {
        send(context)
      }
      return
    }
    latencies.append(now - starts[head])
    head += 1
    if now < end {
      send(context)
    } else if head == starts.count {
      done.succeed(latencies)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
}

func runNIOHandlerClient(port: Int, mode: String, seconds: Double) async throws {
  let body: [UInt8] = try payload.serializedBytes()
  var frame = ByteBuffer()
  frame.writeInteger(UInt32(body.count))
  frame.writeBytes(body)
  let request = frame
  let loop = MultiThreadedEventLoopGroup.singleton.next()
  let done = loop.makePromise(of: [UInt64].self)
  let channel = try await ClientBootstrap(group: loop)
    .channelOption(.socketOption(.tcp_nodelay), value: 1)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
        try channel.pipeline.syncOperations.addHandler(
          PipelinedClientHandler(request: request, window: mode == "seq" ? 1 : 64, seconds: seconds, done: done))
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
  let latencies = try await done.futureResult.get()
  report(impl: "nio-handler", mode: mode, seconds: seconds, latencies: latencies)
  try await channel.close()
}

// MARK: Main

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
  print("usage: rpc-bench server <impl> <port> | client <impl> <port> <seq|par64> <seconds>")
  exit(2)
}
let port = Int(arguments[3])!
if arguments[1] == "server" {
  try await runServer(arguments[2], port: port)
} else {
  try await runClient(arguments[2], port: port, mode: arguments[4], seconds: Double(arguments[5])!)
}

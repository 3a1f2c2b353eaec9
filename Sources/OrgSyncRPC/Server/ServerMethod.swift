import NIOCore
import SwiftProtobuf
import Synchronization

/// Names a method and its message types, shared by the server's handler and the client's stub.
public struct MethodDescriptor<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>: Sendable, Hashable {
  /// "/package.Service/Method"
  public let fullName: String

  public init(service: String, method: String) {
    fullName = "/\(service)/\(method)"
  }
}

/// What a handler knows about its call.
public struct ServerContext: Sendable {
  public let method: String
  public let metadata: Metadata
  public let peer: PeerIdentity
  /// When the caller stops waiting; nil when it set no deadline.
  public let deadline: ContinuousClock.Instant?
  let trailers: TrailerBox

  /// Adds a pair to the trailers the caller receives with the status.
  public func addTrailer(_ key: String, _ value: String) {
    trailers.metadata.withLock { $0.add(key, value) }
  }
}

final class TrailerBox: Sendable {
  let metadata = Mutex(Metadata())
}

/// The request messages of a streaming call, decoded as they arrive.
public struct RequestStream<Message: SwiftProtobuf.Message>: AsyncSequence, Sendable {
  let queue: InboundQueue

  public struct AsyncIterator: AsyncIteratorProtocol {
    let queue: InboundQueue
    public mutating func next() async throws -> Message? {
      guard let buffer = try await queue.next() else { return nil }
      return try decodeMessage(Message.self, from: buffer)
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }
}

/// Sends response messages of a streaming call. `write` waits while the caller's window is
/// used up, so a caller that stops reading stops the handler instead of filling memory.
public struct ResponseWriter<Message: SwiftProtobuf.Message>: Sendable {
  let sink: any MessageSink

  public func write(_ message: Message) async throws {
    try await sink.send(try encodeMessage(message))
  }
}

extension ResponseWriter {
  /// Sends a message encoded beforehand (see `EncodedMessage`).
  public func write(_ encoded: EncodedMessage<Message>) async throws {
    try await sink.send(encoded.payload)
  }
}

/// A response message encoded ahead of sending, so that the caller decides where the CPU work
/// of encoding a large message is done (and counted: the server encodes a pull page within the
/// device's turn at the store).
public struct EncodedMessage<Message: SwiftProtobuf.Message>: Sendable {
  let payload: ByteBuffer

  public init(_ message: Message) throws {
    payload = try encodeMessage(message)
  }

  /// Encoded size in bytes.
  public var count: Int { payload.readableBytes }
}

protocol MessageSink: Sendable {
  func send(_ payload: ByteBuffer) async throws
}

/// One method a server serves: its name and a handler over raw payloads, made by the typed
/// constructors below.
public struct ServerMethod: Sendable {
  /// How many messages each side sends (the method table in docs/PROTOCOL.md names these).
  public enum Kind: String, Sendable, CaseIterable {
    case unary, serverStreaming = "server streaming", clientStreaming = "client streaming", bidirectional
  }

  public let name: String
  public let kind: Kind
  /// Full protobuf names of the request and response messages.
  public let requestType: String
  public let responseType: String
  /// Whether an anonymous connection (no device id) may call it — enrolment only.
  public var allowsAnonymous: Bool = false
  /// Whether its handler runs on the connection's event loop (see `offEventLoop`).
  public private(set) var runsOnEventLoop = true
  let handler: @Sendable (ServerContext, InboundQueue, any MessageSink) async throws -> Void

  init<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, kind: Kind, allowsAnonymous: Bool,
    handler: @escaping @Sendable (ServerContext, InboundQueue, any MessageSink) async throws -> Void
  ) {
    self.name = method.fullName
    self.kind = kind
    self.requestType = Req.protoMessageName
    self.responseType = Resp.protoMessageName
    self.allowsAnonymous = allowsAnonymous
    self.handler = handler
  }

  /// The same method, its handler run on Swift's global pool instead of the connection's
  /// event loop: for calls whose work between store reads (building, redacting and encoding a
  /// page of thousands of records) takes milliseconds. On the loop, that work would hold up
  /// every other connection the loop serves — another device's small call waits behind a
  /// whole page. Off it, the kernel shares the cores between them; the hop costs tens of
  /// microseconds, nothing next to such a call.
  public func offEventLoop() -> ServerMethod {
    var method = self
    method.runsOnEventLoop = false
    return method
  }

  /// One request, one response.
  public static func unary<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, allowsAnonymous: Bool = false,
    _ body: @escaping @Sendable (Req, ServerContext) async throws -> Resp
  ) -> ServerMethod {
    ServerMethod(method, kind: .unary, allowsAnonymous: allowsAnonymous) { context, requests, sink in
      let request = try await single(Req.self, from: requests)
      let response = try await body(request, context)
      try await sink.send(try encodeMessage(response))
    }
  }

  /// One request, a stream of responses.
  public static func serverStreaming<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, allowsAnonymous: Bool = false,
    _ body: @escaping @Sendable (Req, ResponseWriter<Resp>, ServerContext) async throws -> Void
  ) -> ServerMethod {
    ServerMethod(method, kind: .serverStreaming, allowsAnonymous: allowsAnonymous) { context, requests, sink in
      let request = try await single(Req.self, from: requests)
      try await body(request, ResponseWriter(sink: sink), context)
    }
  }

  /// A stream of requests, one response.
  public static func clientStreaming<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, allowsAnonymous: Bool = false,
    _ body: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Resp
  ) -> ServerMethod {
    ServerMethod(method, kind: .clientStreaming, allowsAnonymous: allowsAnonymous) { context, requests, sink in
      let response = try await body(RequestStream(queue: requests), context)
      try await sink.send(try encodeMessage(response))
    }
  }

  /// Streams both ways.
  public static func bidirectional<Req, Resp>(
    _ method: MethodDescriptor<Req, Resp>, allowsAnonymous: Bool = false,
    _ body: @escaping @Sendable (RequestStream<Req>, ResponseWriter<Resp>, ServerContext) async throws -> Void
  ) -> ServerMethod {
    ServerMethod(method, kind: .bidirectional, allowsAnonymous: allowsAnonymous) { context, requests, sink in
      try await body(RequestStream(queue: requests), ResponseWriter(sink: sink), context)
    }
  }

  private static func single<M: SwiftProtobuf.Message>(_ type: M.Type, from queue: InboundQueue) async throws -> M {
    guard let buffer = try await queue.next() else {
      throw RPCError(code: .invalidArgument, message: "the call carried no request message")
    }
    return try decodeMessage(M.self, from: buffer)
  }
}

/// A group of methods served together.
public protocol RPCService: Sendable {
  var methods: [ServerMethod] { get }
}

/// Maps method names to handlers.
struct Router: Sendable {
  private var table: [String: ServerMethod] = [:]

  init(services: [any RPCService]) {
    for service in services {
      for method in service.methods {
        precondition(table[method.name] == nil, "method \(method.name) registered twice")
        table[method.name] = method
      }
    }
  }

  subscript(name: String) -> ServerMethod? { table[name] }
}

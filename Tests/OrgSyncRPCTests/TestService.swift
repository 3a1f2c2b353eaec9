import Foundation
import NIOCore
import OrgSyncProto
import OrgSyncRPC
import Synchronization

typealias Entry = Orgsync_V1_MetadataEntry

/// Methods of the test service: messages are `MetadataEntry {key, value}`.
enum Echo {
  static let unary = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Unary")
  /// value = N: answers N messages whose key is `key` repeated.
  static let expand = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Expand")
  /// answers one message whose value is the number of requests and key their keys joined.
  static let collect = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Collect")
  static let chat = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Chat")
  /// sleeps `value` milliseconds (cancellable).
  static let sleep = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Sleep")
  /// fails with NOT_FOUND and a trailer.
  static let fail = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Fail")
  /// value = N, key = size: streams N messages of `size` bytes, slowly if asked.
  static let flood = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Flood")
  static let open = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Open")
  static let missing = MethodDescriptor<Entry, Entry>(service: "test.Echo", method: "Missing")
  /// Same name as `unary`, other request type: the server cannot decode what it sends.
  static let unaryWrongType = MethodDescriptor<Orgsync_V1_Record, Entry>(service: "test.Echo", method: "Unary")
}

func entry(_ key: String, _ value: String = "") -> Entry {
  var entry = Entry()
  entry.key = key
  entry.value = value
  return entry
}

/// What the handlers observed, for the tests to check.
final class Observations: Sendable {
  let cancelledHandlers = Atomic<Int>(0)
  let startedHandlers = Atomic<Int>(0)
  let floodSent = Atomic<Int>(0)
  let lastMetadata = Mutex<String?>(nil)
  let lastPeer = Mutex<[UInt8]?>(nil)
}

struct EchoService: RPCService {
  let observations: Observations

  var methods: [ServerMethod] {
    [
      .unary(Echo.unary) { request, context in
        observations.lastMetadata.withLock { $0 = context.metadata["x-unit"] }
        observations.lastPeer.withLock { $0 = context.peer.deviceID }
        context.addTrailer("x-served-by", "test")
        return request
      },
      .serverStreaming(Echo.expand) { request, writer, _ in
        for i in 0..<(Int(request.value) ?? 0) {
          try await writer.write(entry(request.key, String(i)))
        }
      },
      .clientStreaming(Echo.collect) { requests, _ in
        var keys: [String] = []
        for try await request in requests { keys.append(request.key) }
        return entry(keys.joined(separator: ","), String(keys.count))
      },
      .bidirectional(Echo.chat) { requests, writer, _ in
        for try await request in requests {
          try await writer.write(entry(request.key.uppercased(), request.value))
        }
      },
      .unary(Echo.sleep) { request, _ in
        observations.startedHandlers.add(1, ordering: .relaxed)
        do {
          try await Task.sleep(for: .milliseconds(Int(request.value) ?? 0))
        } catch {
          observations.cancelledHandlers.add(1, ordering: .relaxed)
          throw error
        }
        return request
      },
      .unary(Echo.fail) { _, context in
        context.addTrailer("x-reason", "missing")
        throw RPCError(code: .notFound, message: "no such unit")
      },
      .serverStreaming(Echo.flood) { request, writer, _ in
        let size = Int(request.key) ?? 0
        let message = entry(String(repeating: "x", count: size))
        for _ in 0..<(Int(request.value) ?? 0) {
          try await writer.write(message)
          observations.floodSent.add(1, ordering: .relaxed)
        }
      },
      .unary(Echo.open, allowsAnonymous: true) { request, _ in request },
    ]
  }
}

import Foundation
import NIOCore
import OrgSyncProto
import OrgSyncRPC
import Testing

/// The enrolled device the tests' clients present.
/// Connect and handshake budget in tests that are not about it: generous, so that a busy
/// machine slows them down instead of failing them.
let testConnectTimeout: Duration = .seconds(120)

let testIdentity = ClientIdentity(deviceID: Array("device-0001".utf8), secret: HelloProof.randomBytes())
let testAuthenticator = StoredKeyAuthenticator(
  storedKeys: [testIdentity.deviceID: HelloProof.storedKey(secret: testIdentity.secret)])

/// Starts a server with the echo service on 127.0.0.1 and a client for it.
func withEchoServer<R: Sendable>(
  configuration: RPCServer.Configuration = .init(authenticator: testAuthenticator),
  clientConfiguration: ((Int) -> RPCClient.Configuration)? = nil,
  _ body: (RPCClient, RPCServer, Observations) async throws -> R
) async throws -> R {
  let observations = Observations()
  return try await withRPCServer(configuration: configuration, services: [EchoService(observations: observations)]) {
    server, address in
    let port = address.port!
    let client = try RPCClient(
      configuration: clientConfiguration?(port)
        ?? .init(host: "127.0.0.1", port: port, identity: testIdentity, connectTimeout: testConnectTimeout))
    defer { Task { await client.close() } }
    return try await body(client, server, observations)
  }
}

@Suite("Calls over TCP")
struct CallTests {
  @Test("a unary call carries its message and metadata both ways")
  func unary() async throws {
    try await withEchoServer { client, _, observations in
      let response = try await client.unary(
        Echo.unary, entry("太平村党支部", "2026-Q3"), options: CallOptions(metadata: ["x-unit": "430521"]))
      #expect(response.key == "太平村党支部")
      #expect(response.value == "2026-Q3")
      #expect(observations.lastMetadata.withLock { $0 } == "430521")
      #expect(observations.lastPeer.withLock { $0 } == testIdentity.deviceID)
    }
  }

  @Test("a server stream delivers every message in order")
  func serverStreaming() async throws {
    try await withEchoServer { client, _, _ in
      let values = try await client.serverStreaming(Echo.expand, entry("k", "1000")) { responses in
        var values: [String] = []
        for try await response in responses { values.append(response.value) }
        return values
      }
      #expect(values == (0..<1000).map(String.init))
    }
  }

  @Test("a client stream delivers every message, then gets one answer")
  func clientStreaming() async throws {
    try await withEchoServer { client, _, _ in
      let response = try await client.clientStreaming(Echo.collect) { writer in
        for key in ["乡", "镇", "村"] { try await writer.write(entry(key)) }
      }
      #expect(response.key == "乡,镇,村")
      #expect(response.value == "3")
    }
  }

  @Test("a bidirectional call answers each message as it comes")
  func bidirectional() async throws {
    try await withEchoServer { client, _, _ in
      let answers = try await client.bidirectional(Echo.chat) { writer, responses in
        var iterator = responses.makeAsyncIterator()
        var answers: [String] = []
        for word in ["a", "b", "c"] {
          try await writer.write(entry(word))
          answers.append(try await iterator.next()?.key ?? "-")
        }
        return answers
      }
      #expect(answers == ["A", "B", "C"])
    }
  }

  @Test("a handler's error reaches the caller with its code, message and trailers")
  func errorStatus() async throws {
    try await withEchoServer { client, _, _ in
      let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.fail, entry("x")) }
      #expect(error?.code == .notFound)
      #expect(error?.message == "no such unit")
      #expect(error?.metadata["x-reason"] == "missing")
    }
  }

  @Test("an unknown method is UNIMPLEMENTED and the connection lives on")
  func unknownMethod() async throws {
    try await withEchoServer { client, _, _ in
      let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.missing, entry("x")) }
      #expect(error?.code == .unimplemented)
      let after = try await client.unary(Echo.unary, entry("after"))
      #expect(after.key == "after")
    }
  }

  @Test("a message that does not decode is INVALID_ARGUMENT and the connection lives on")
  func undecodableMessage() async throws {
    try await withEchoServer { client, server, _ in
      var record = Orgsync_V1_Record()
      record.id = Data([0xFF, 0xFE])  // field 1: the server reads it as a string, and it is not UTF-8
      let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.unaryWrongType, record) }
      #expect(error?.code == .invalidArgument)
      let after = try await client.unary(Echo.unary, entry("after"))
      #expect(after.key == "after")
      #expect(server.connectionCount == 1)
    }
  }
}

import Foundation
import NIOCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncWire
import Testing

/// Compressed messages (PROTOCOL.md §3.1): agreed in the hello, used for large messages, and
/// never a way to make the server inflate more than it accepts.
@Suite("Compressed messages")
struct CompressionTests {
  @Test("large messages both ways arrive whole with compression agreed; so do small ones")
  func roundTrip() async throws {
    try await withEchoServer { client, _, _ in
      let big = String(repeating: "太平村党支部第三季度检查报告；", count: 8_000)  // ~330 KB, compressible
      let random = (0..<2_000).map { _ in UUID().uuidString }.joined()  // barely compressible
      for text in [big, "小", random] {
        let answer = try await client.unary(Echo.unary, entry(text))
        #expect(answer.key == text)
      }
    }
  }

  /// Preface, an anonymous HELLO (offering zlib or not), HEADERS for an open method, then one
  /// MESSAGE flagged compressed with `payload`.
  static func compressedCall(offer: Bool, payload: ByteBuffer) -> ByteBuffer {
    var bytes = ByteBuffer()
    bytes.writePreface()
    var hello = Orgsync_V1_Hello()
    hello.major = 1
    if offer { hello.compression = ["zlib"] }
    bytes.writeFrame(type: .hello, streamID: 0) { $0.writeBytes(try! hello.serializedBytes() as [UInt8]) }
    var headers = Orgsync_V1_RequestHeaders()
    headers.method = "/test.Echo/Open"
    bytes.writeFrame(type: .headers, streamID: 1) { $0.writeBytes(try! headers.serializedBytes() as [UInt8]) }
    var payload = payload
    bytes.writeFrame(type: .message, flags: [.endStream, .compressed], streamID: 1) { $0.writeBuffer(&payload) }
    return bytes
  }

  @Test("a compressed message on a connection that did not agree to compression is a protocol error")
  func unagreed() async throws {
    try await withEchoServer { _, server, _ in
      let peer = try await RawPeer.connect(port: try await server.localAddress().port!)
      var payload = ByteBuffer()
      payload.writeInteger(UInt32(4))
      payload.writeBytes([0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
      let frames = try await peer.exchange(Self.compressedCall(offer: false, payload: payload))
      #expect(goAway(in: frames)?.reason == .protocolError)
    }
  }

  @Test(
    "a compressed message declaring more than the server accepts is refused before inflating; so is one that is not zlib"
  )
  func bomb() async throws {
    try await withEchoServer { _, server, _ in
      // A gigabyte of zeros would deflate to about a megabyte; declaring it is enough to be refused.
      var declared = ByteBuffer()
      declared.writeInteger(UInt32(1 << 30))
      declared.writeBytes([0x78, 0x9C] + [UInt8](repeating: 0, count: 64))
      var frames = try await RawPeer.connect(port: try await server.localAddress().port!)
        .exchange(Self.compressedCall(offer: true, payload: declared))
      #expect(frames.contains { $0.type == .helloAck })
      #expect(goAway(in: frames)?.reason == .protocolError)
      #expect(goAway(in: frames)?.message.contains("more than") == true, "\(goAway(in: frames)?.message ?? "")")

      var garbage = ByteBuffer()
      garbage.writeInteger(UInt32(100))
      garbage.writeString("not a zlib stream at all, just text")
      frames = try await RawPeer.connect(port: try await server.localAddress().port!)
        .exchange(Self.compressedCall(offer: true, payload: garbage))
      #expect(goAway(in: frames)?.reason == .protocolError)
    }
  }
}

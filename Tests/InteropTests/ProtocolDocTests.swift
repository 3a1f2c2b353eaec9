import Foundation
import NIOCore
import OrgSyncProto
import OrgSyncWire
import Testing

/// docs/PROTOCOL.md is the spec a stranger writes a client from: its worked example must be
/// exactly what this implementation sends.
@Suite("PROTOCOL.md")
struct ProtocolDocTests {
  /// The hex bytes of each code block in section 8 (text after four spaces is commentary).
  static func exampleBlocks() throws -> [[UInt8]] {
    let docURL = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("docs/PROTOCOL.md")
    let text = try String(contentsOf: docURL, encoding: .utf8)
    guard let start = text.range(of: "## 8."), let end = text.range(of: "## 9.") else { return [] }
    let section = text[start.upperBound..<end.lowerBound]
    var blocks: [[UInt8]] = []
    var current: [UInt8]? = nil
    for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
      if line.hasPrefix("```") {
        if let block = current { blocks.append(block) }
        current = current == nil ? [] : nil
        continue
      }
      guard current != nil else { continue }
      let bytesPart = line.components(separatedBy: "    ").first ?? ""
      for token in bytesPart.split(separator: " ") {
        guard let byte = UInt8(token, radix: 16) else { continue }
        current!.append(byte)
      }
    }
    return blocks
  }

  @Test("the worked example is byte for byte what the encoder writes")
  func workedExample() throws {
    var headers = Orgsync_V1_RequestHeaders()
    headers.method = "/orgsync.v1.Sync/Pull"
    headers.timeoutMicros = 5_000_000
    var pull = Orgsync_V1_PullRequest()
    pull.pageSize = 500
    var page = Orgsync_V1_PullPage()
    page.cursor = Data([0, 0, 0, 0, 0, 0, 0, 0x2A])
    let trailers = Orgsync_V1_Trailers()  // code OK

    func bytes(_ build: (inout ByteBuffer) -> Void) -> [UInt8] {
      var buffer = ByteBuffer()
      build(&buffer)
      return Array(buffer.readableBytesView)
    }
    func frame(_ type: FrameType, _ flags: FrameFlags, _ payload: [UInt8]) -> [UInt8] {
      bytes { $0.writeFrame(Frame(type: type, flags: flags, streamID: 1, payload: ByteBuffer(bytes: payload))) }
    }
    let expected: [[UInt8]] = [
      bytes { $0.writePreface() },
      frame(.headers, [], try headers.serializedBytes()),
      frame(.message, .endStream, try pull.serializedBytes()),
      frame(.message, [], try page.serializedBytes()),
      frame(.trailers, [], try trailers.serializedBytes()),
    ]
    let documented = try Self.exampleBlocks()
    #expect(documented == expected)
  }
}

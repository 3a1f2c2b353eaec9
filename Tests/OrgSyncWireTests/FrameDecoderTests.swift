import NIOCore
import NIOEmbedded
import NIOTestUtils
import OrgSyncWire
import Testing

@Suite("Frame codec")
struct FrameDecoderTests {
  static func frame(_ type: FrameType, stream: UInt32, flags: FrameFlags = [], _ payload: String) -> Frame {
    Frame(type: type, flags: flags, streamID: stream, payload: ByteBuffer(string: payload))
  }

  static let sample: [Frame] = [
    frame(.hello, stream: 0, "hello"),
    frame(.headers, stream: 1, "/orgsync.v1.Sync/Pull"),
    frame(.message, stream: 1, flags: .endStream, "太平村党支部 2026 年第三季度"),
    frame(.message, stream: 3, ""),
    Frame(type: .ping, streamID: 0, payload: ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7, 8])),
    Frame(type: .windowUpdate, streamID: 3, payload: ByteBuffer(bytes: [0, 1, 0, 0])),
    frame(.trailers, stream: 1, String(repeating: "x", count: 20_000)),
  ]

  @Test("decodes what the encoder wrote, fed a byte at a time, in batches and whole")
  func roundTripThroughVerifier() throws {
    // The verifier replays inputs on one decoder, so it checks the frame stage; the preface
    // stage is checked below and in "Malformed input".
    let pairs = Self.sample.map { frame -> (ByteBuffer, [WireEvent]) in
      var input = ByteBuffer()
      input.writeFrame(frame)
      return (input, [.frame(frame)])
    }
    try ByteToMessageDecoderVerifier.verifyDecoder(
      inputOutputPairs: pairs,
      decoderFactory: { FrameDecoder(parser: FrameParser(mode: .framesOnly)) })
  }

  @Test("a preface and frames arriving in one read or byte by byte decode alike")
  func prefaceThenFrames() throws {
    var input = ByteBuffer()
    input.writePreface()
    for frame in Self.sample { input.writeFrame(frame) }
    let expected = [WireEvent.preface(.current)] + Self.sample.map(WireEvent.frame)
    for chunk in [7, 13, 4096, input.readableBytes] {
      let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder()))
      var rest = input
      var events: [WireEvent] = []
      while let slice = rest.readSlice(length: min(chunk, rest.readableBytes)), slice.readableBytes > 0 {
        try channel.writeInbound(slice)
        while let event = try channel.readInbound(as: WireEvent.self) { events.append(event) }
      }
      #expect(events == expected, "chunks of \(chunk) bytes")
      #expect(try channel.finish().isClean)
    }
  }

  @Test("the header layout is the one in docs/PROTOCOL.md")
  func headerLayout() {
    var buffer = ByteBuffer()
    buffer.writeFrame(Self.frame(.message, stream: 5, flags: .endStream, "abc"))
    let bytes = buffer.getBytes(at: 0, length: buffer.readableBytes)!
    #expect(Array(bytes[0..<10]) == [0, 0, 0, 3, 0x05, 0x01, 0, 0, 0, 5])
    let crc = crc32c(Array(bytes[0..<10]) + Array("abc".utf8))
    #expect(
      Array(bytes[10..<14]) == [
        UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF),
      ])
    #expect(Array(bytes[14...]) == Array("abc".utf8))
  }

  @Test("CRC-32C matches the standard check value")
  func crcCheckValue() {
    #expect(crc32c(Array("123456789".utf8)) == 0xE306_9283)
    // Long input exercises the 8-byte path; the result must not depend on the split.
    let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    #expect(crc32c(long) != crc32c(long.dropLast()))
  }

  @Test("an incomplete frame waits and moves nothing")
  func incompleteFrameWaits() throws {
    var parser = FrameParser(mode: .framesOnly)
    var full = ByteBuffer()
    full.writeFrame(Self.frame(.message, stream: 1, "payload"))
    var partial = full.getSlice(at: 0, length: full.readableBytes - 1)!
    #expect(try parser.next(from: &partial) == nil)
    #expect(partial.readerIndex == 0)
    #expect(throws: WireError(code: .truncated, message: "connection ended inside a frame (20 bytes pending)")) {
      try parser.finish(remaining: partial)
    }
  }
}

@Suite("Malformed input")
struct MalformedInputTests {
  /// Feeds `bytes` to a fresh channel and returns the error the decoder raised.
  func decodeError(_ bytes: ByteBuffer, parser: FrameParser = FrameParser(), close: Bool = false) throws -> WireError? {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(parser: parser)))
    defer { _ = try? channel.finish() }
    do {
      try channel.writeInbound(bytes)
      if close {
        try channel.close().wait()
        try channel.throwIfErrorCaught()
      }
      while let _ = try channel.readInbound(as: WireEvent.self) {}
      return nil
    } catch let error as WireError {
      return error
    }
  }

  func framed(_ build: (inout ByteBuffer) -> Void) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writePreface()
    build(&buffer)
    return buffer
  }

  @Test("bytes that are not the preface fail at the first wrong byte")
  func badPreface() throws {
    let error = try decodeError(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
    #expect(error?.code == .badPreface)
    // One wrong byte is enough; the decoder does not wait for eight.
    #expect(try decodeError(ByteBuffer(bytes: [0x4F, 0x00]))?.code == .badPreface)
  }

  @Test("a preface with another major version is refused")
  func unsupportedVersion() throws {
    var buffer = ByteBuffer()
    buffer.writePreface(ProtocolVersion(major: 2, minor: 0))
    #expect(try decodeError(buffer)?.code == .unsupportedVersion)
    // A newer minor of the same major is accepted.
    var newer = ByteBuffer()
    newer.writePreface(ProtocolVersion(major: 1, minor: 7))
    #expect(try decodeError(newer) == nil)
  }

  @Test("a connection that ends inside a frame or the preface is truncated")
  func truncated() throws {
    var buffer = framed { $0.writeFrame(FrameDecoderTests.frame(.message, stream: 1, "hello")) }
    buffer.moveWriterIndex(to: buffer.writerIndex - 2)
    #expect(try decodeError(buffer, close: true)?.code == .truncated)
    #expect(try decodeError(ByteBuffer(bytes: WireFormat.prefaceMagic), close: true)?.code == .truncated)
  }

  @Test("an oversize length is refused from the header alone")
  func oversize() throws {
    var parser = FrameParser(mode: .framesOnly, maxPayloadSize: 1024)
    var header = ByteBuffer()
    header.writeInteger(UInt32(1025))
    header.writeInteger(FrameType.message.rawValue)
    header.writeInteger(UInt8(0))
    header.writeInteger(UInt32(1))
    header.writeInteger(UInt32(0))
    // Only the 14 header bytes are there: the parser must not wait for the body.
    #expect(throws: WireError.self) { try parser.next(from: &header) }
    var max = ByteBuffer()
    max.writeInteger(UInt32.max)
    max.writeBytes([5, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    #expect(try decodeError(framed { $0.writeImmutableBuffer(max) })?.code == .frameTooLarge)
  }

  @Test("a flipped bit in the header or the payload fails the checksum")
  func badChecksum() throws {
    for offset in [6, 9, 14, 20] {  // stream id bytes and payload bytes
      var buffer = ByteBuffer()
      buffer.writeFrame(FrameDecoderTests.frame(.message, stream: 1, "十二个字节的内容"))
      let byte = buffer.getInteger(at: offset, as: UInt8.self)!
      buffer.setInteger(byte ^ 0x10, at: offset)
      var prefixed = ByteBuffer()
      prefixed.writePreface()
      prefixed.writeBuffer(&buffer)
      let code = try decodeError(prefixed)?.code
      #expect(code == .badChecksum || code == .invalidFrame, "offset \(offset)")
    }
  }

  @Test("an unknown frame type is refused")
  func unknownType() throws {
    var buffer = framed { $0.writeFrame(FrameDecoderTests.frame(.message, stream: 1, "x")) }
    buffer.setInteger(UInt8(0x7F), at: WireFormat.prefaceLength + 4)
    #expect(try decodeError(buffer)?.code == .unknownFrameType)
  }

  @Test(
    "frames that break their type's rules are invalid",
    arguments: [
      (FrameType.ping, UInt32(0), 4),  // ping payload must be 8 bytes
      (FrameType.windowUpdate, UInt32(1), 8),  // window update payload must be 4 bytes
      (FrameType.hello, UInt32(1), 0),  // connection frame on a call's stream
      (FrameType.message, UInt32(0), 0),  // call frame on stream 0
    ])
  func invalidFrames(type: FrameType, stream: UInt32, length: Int) throws {
    let buffer = framed {
      $0.writeFrame(type: type, streamID: stream) { $0.writeRepeatingByte(0, count: length) }
    }
    #expect(try decodeError(buffer)?.code == .invalidFrame)
  }

  @Test("the reserved bit of the stream id is refused")
  func reservedBit() throws {
    var buffer = framed { $0.writeFrame(FrameDecoderTests.frame(.message, stream: 1, "x")) }
    buffer.setInteger(UInt8(0x80), at: WireFormat.prefaceLength + 6)
    #expect(try decodeError(buffer)?.code == .invalidFrame)
  }
}

import CCRC32C
import NIOCore

/// Turns bytes from a peer into a preface and frames (docs/PROTOCOL.md).
///
/// Pure and synchronous: no channel, no allocation beyond slicing the input. The reader index of
/// the input moves only past complete items, so an incomplete preface or frame leaves the bytes
/// in place for the next call. An oversize length is rejected as soon as the 14-byte header is
/// in, before any payload is buffered.
public struct FrameParser: Sendable {
  /// What the parser expects first.
  public enum Mode: Sendable {
    /// A preface, then frames (both sides read the other's preface first).
    case prefaceThenFrames
    /// Frames only (a test or a peer whose preface was already read).
    case framesOnly
  }

  /// The largest payload accepted; longer announced lengths fail with `.frameTooLarge`.
  public var maxPayloadSize: Int
  /// Major protocol versions this side accepts in a preface.
  public var supportedMajors: ClosedRange<UInt8>
  private var awaitingPreface: Bool

  public init(
    mode: Mode = .prefaceThenFrames,
    maxPayloadSize: Int = WireFormat.defaultMaxPayload,
    supportedMajors: ClosedRange<UInt8> = 1...1
  ) {
    self.maxPayloadSize = min(max(0, maxPayloadSize), WireFormat.absoluteMaxPayload)
    self.supportedMajors = supportedMajors
    self.awaitingPreface = mode == .prefaceThenFrames
  }

  /// Returns the next complete item, or nil when more bytes are needed.
  public mutating func next(from buffer: inout ByteBuffer) throws(WireError) -> WireEvent? {
    if awaitingPreface {
      guard let version = try Self.parsePreface(&buffer, supportedMajors: supportedMajors) else {
        return nil
      }
      awaitingPreface = false
      return .preface(version)
    }
    guard let frame = try Self.parseFrame(&buffer, maxPayloadSize: maxPayloadSize) else {
      return nil
    }
    return .frame(frame)
  }

  /// Fails with `.truncated` if `buffer` holds a partial item; call when the peer closed.
  public func finish(remaining buffer: ByteBuffer) throws(WireError) {
    if buffer.readableBytes > 0 {
      let what = awaitingPreface ? "preface" : "frame"
      throw WireError(
        code: .truncated,
        message: "connection ended inside a \(what) (\(buffer.readableBytes) bytes pending)")
    }
  }

  static func parsePreface(
    _ buffer: inout ByteBuffer, supportedMajors: ClosedRange<UInt8>
  ) throws(WireError) -> ProtocolVersion? {
    // Check the magic as far as it has arrived, so garbage fails at once rather than after 8 bytes.
    let available = min(buffer.readableBytes, WireFormat.prefaceMagic.count)
    for i in 0..<available
    where buffer.getInteger(at: buffer.readerIndex + i, as: UInt8.self) != WireFormat.prefaceMagic[i] {
      throw WireError(code: .badPreface, message: "the peer did not start with the OrgSync preface")
    }
    guard buffer.readableBytes >= WireFormat.prefaceLength else { return nil }
    let base = buffer.readerIndex + WireFormat.prefaceMagic.count
    let version = ProtocolVersion(
      major: buffer.getInteger(at: base, as: UInt8.self)!,
      minor: buffer.getInteger(at: base + 1, as: UInt8.self)!)
    guard supportedMajors.contains(version.major) else {
      throw WireError(
        code: .unsupportedVersion,
        message: "peer speaks protocol \(version), this side speaks major \(supportedMajors)")
    }
    buffer.moveReaderIndex(forwardBy: WireFormat.prefaceLength)
    return version
  }

  static func parseFrame(_ buffer: inout ByteBuffer, maxPayloadSize: Int) throws(WireError) -> Frame? {
    guard buffer.readableBytes >= WireFormat.headerLength else { return nil }
    let start = buffer.readerIndex
    let length = Int(buffer.getInteger(at: start, as: UInt32.self)!)
    let typeByte = buffer.getInteger(at: start + 4, as: UInt8.self)!
    let flags = FrameFlags(rawValue: buffer.getInteger(at: start + 5, as: UInt8.self)!)
    let rawStream = buffer.getInteger(at: start + 6, as: UInt32.self)!
    let checksum = buffer.getInteger(at: start + 10, as: UInt32.self)!

    guard length <= maxPayloadSize else {
      throw WireError(
        code: .frameTooLarge, message: "frame payload of \(length) bytes exceeds the limit of \(maxPayloadSize)")
    }
    guard let type = FrameType(rawValue: typeByte) else {
      throw WireError(code: .unknownFrameType, message: "unknown frame type 0x\(String(typeByte, radix: 16))")
    }
    guard rawStream & 0x8000_0000 == 0 else {
      throw WireError(code: .invalidFrame, message: "reserved bit of the stream id is set")
    }
    try validate(type: type, streamID: rawStream, length: length)
    guard buffer.readableBytes >= WireFormat.headerLength + length else { return nil }

    let computed = buffer.withUnsafeReadableBytes { raw in
      let header = orgsync_crc32c(0, raw.baseAddress, 10)
      return orgsync_crc32c(header, raw.baseAddress! + WireFormat.headerLength, length)
    }
    guard computed == checksum else {
      throw WireError(code: .badChecksum, message: "frame checksum does not match (type \(type), stream \(rawStream))")
    }
    buffer.moveReaderIndex(forwardBy: WireFormat.headerLength)
    let payload = buffer.readSlice(length: length)!
    return Frame(type: type, flags: flags, streamID: rawStream, payload: payload)
  }

  private static func validate(type: FrameType, streamID: UInt32, length: Int) throws(WireError) {
    if type.isConnectionLevel, streamID != 0 {
      throw WireError(code: .invalidFrame, message: "\(type) frame on stream \(streamID); it belongs to stream 0")
    }
    if !type.isConnectionLevel, streamID == 0 {
      throw WireError(code: .invalidFrame, message: "\(type) frame on stream 0; it needs a call's stream")
    }
    switch type {
    case .ping where length != 8:
      throw WireError(code: .invalidFrame, message: "ping payload must be 8 bytes, got \(length)")
    case .windowUpdate where length != 4:
      throw WireError(code: .invalidFrame, message: "window update payload must be 4 bytes, got \(length)")
    default:
      break
    }
  }
}

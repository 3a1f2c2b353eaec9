import CCRC32C
import NIOCore

extension ByteBuffer {
  /// Writes the 8-byte preface for `version`.
  public mutating func writePreface(_ version: ProtocolVersion = .current) {
    writeBytes(WireFormat.prefaceMagic)
    writeInteger(version.major)
    writeInteger(version.minor)
  }

  /// Writes one frame whose payload is already in a buffer.
  @discardableResult
  public mutating func writeFrame(_ frame: Frame) -> Int {
    var payload = frame.payload
    return writeFrame(type: frame.type, flags: frame.flags, streamID: frame.streamID) { buffer in
      buffer.writeBuffer(&payload)
    }
  }

  /// Writes one frame, letting `body` write the payload in place (no intermediate copy), then
  /// fills in the length and checksum. Returns the number of bytes written.
  @discardableResult
  public mutating func writeFrame(
    type: FrameType, flags: FrameFlags = [], streamID: UInt32, body: (inout ByteBuffer) -> Void
  ) -> Int {
    precondition(streamID & 0x8000_0000 == 0, "stream ids are 31-bit")
    let start = writerIndex
    writeInteger(UInt32(0))
    writeInteger(type.rawValue)
    writeInteger(flags.rawValue)
    writeInteger(streamID)
    writeInteger(UInt32(0))
    body(&self)
    let length = writerIndex - start - WireFormat.headerLength
    setInteger(UInt32(length), at: start)
    let crc = withUnsafeReadableBytes { raw in
      let frameStart = raw.baseAddress! + (start - readerIndex)
      let header = orgsync_crc32c(0, frameStart, 10)
      return orgsync_crc32c(header, frameStart + WireFormat.headerLength, length)
    }
    setInteger(crc, at: start + 10)
    return writerIndex - start
  }
}

/// CRC-32C over a byte sequence (the frame checksum function), for tests and tools.
public func crc32c<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
  Array(bytes).withUnsafeBytes { orgsync_crc32c(0, $0.baseAddress, $0.count) }
}

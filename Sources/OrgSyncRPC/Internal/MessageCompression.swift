import COrgSyncZlib
import NIOCore
import OrgSyncWire

/// Compressed MESSAGE payloads (PROTOCOL.md §3.1): the uncompressed length as 4 bytes big-endian,
/// then a zlib stream (RFC 1950) of the message. The system zlib does the work: it is on every
/// Debian machine, libprotobuf-c's peers have it too, and its ratio on protobuf pages (short
/// repeated field tags, CJK text) is most of what zstd would give, at a fraction of the code.
/// Small messages go as they are: below `floor` the header and zlib's overhead eat the gain.
enum MessageCompression {
  static let name = "zlib"
  /// Messages shorter than this are never compressed.
  static let floor = 512

  /// The compressed payload, or nil when compression would not make it smaller.
  static func compress(_ payload: ByteBuffer) -> ByteBuffer? {
    let length = payload.readableBytes
    guard length >= floor, length <= Int(UInt32.max) else { return nil }
    var bound = compressBound(uLong(length))
    var out = ByteBuffer()
    out.writeInteger(UInt32(length))
    let written = payload.withUnsafeReadableBytes { input -> Int? in
      out.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(bound)) { output in
        let status = compress2(
          output.baseAddress!.assumingMemoryBound(to: Bytef.self), &bound,
          input.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(length), 6)
        return status == Z_OK ? Int(bound) : 0
      }
    }
    guard let written, written > 0, out.readableBytes < length else { return nil }
    return out
  }

  /// A message as it goes on the wire: compressed (with the flag) when `enabled` and worth it.
  static func pack(_ payload: ByteBuffer, if enabled: Bool) -> (ByteBuffer, FrameFlags) {
    guard enabled, let packed = compress(payload) else { return (payload, []) }
    return (packed, .compressed)
  }

  /// The message inside a compressed payload. The declared length is checked against `maxSize`
  /// before anything is inflated, and the output may not differ from it: a "zip bomb" costs the
  /// receiver no more memory than the largest message it accepts anyway.
  static func decompress(_ payload: ByteBuffer, maxSize: Int) throws -> ByteBuffer {
    var payload = payload
    guard let declared = payload.readInteger(as: UInt32.self) else {
      throw CompressionError("a compressed message without its length")
    }
    guard declared <= UInt32(maxSize) else {
      throw CompressionError("a compressed message of \(declared) bytes, more than the \(maxSize) accepted")
    }
    var out = ByteBuffer()
    var produced = uLong(declared)
    let status = payload.withUnsafeReadableBytes { input in
      out.writeWithUnsafeMutableBytes(minimumWritableBytes: max(1, Int(declared))) { output in
        let status = uncompress(
          output.baseAddress!.assumingMemoryBound(to: Bytef.self), &produced,
          input.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(input.count))
        return status == Z_OK ? Int(produced) : 0
      }
      return Z_OK
    }
    guard status == Z_OK, out.readableBytes == Int(declared) else {
      throw CompressionError("a compressed message does not inflate to its declared length")
    }
    return out
  }
}

struct CompressionError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

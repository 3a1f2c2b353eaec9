import NIOCore
import SwiftProtobuf

/// Lets swift-protobuf encode into and decode from a `ByteBuffer` directly, without an
/// intermediate `[UInt8]` copy.
struct ProtobufBytes: SwiftProtobufContiguousBytes {
  var buffer: ByteBuffer

  init(_ buffer: ByteBuffer) { self.buffer = buffer }

  init(repeating: UInt8, count: Int) {
    buffer = ByteBuffer()
    buffer.writeRepeatingByte(repeating, count: count)
  }

  init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
    buffer = ByteBuffer(bytes: sequence)
  }

  var count: Int { buffer.readableBytes }

  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeReadableBytes(body)
  }

  mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeMutableReadableBytes(body)
  }
}

extension SwiftProtobuf.Message {
  /// The binary encoding of this message in a fresh buffer.
  func serializedBuffer() throws -> ByteBuffer {
    let bytes: ProtobufBytes = try serializedBytes()
    return bytes.buffer
  }

  /// Decodes a message from a frame payload.
  init(buffer: ByteBuffer) throws {
    try self.init(serializedBytes: ProtobufBytes(buffer))
  }
}

/// Decodes a request or response payload, mapping failure to the status the peer should see.
func decodeMessage<M: SwiftProtobuf.Message>(_ type: M.Type, from buffer: ByteBuffer) throws(RPCError) -> M {
  do {
    return try M(buffer: buffer)
  } catch {
    throw RPCError(code: .invalidArgument, message: "the \(M.protoMessageName) message does not decode")
  }
}

func encodeMessage<M: SwiftProtobuf.Message>(_ message: M) throws(RPCError) -> ByteBuffer {
  do {
    return try message.serializedBuffer()
  } catch {
    throw RPCError(code: .internal, message: "the \(M.protoMessageName) message does not encode")
  }
}

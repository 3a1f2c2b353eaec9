import NIOCore
import OrgSyncProto
import OrgSyncWire
import SwiftProtobuf

/// libFuzzer entry point: frame decode, then protobuf decode of each control payload.
/// Built only by Scripts/fuzz.sh (ORGSYNC_FUZZ=1 swift build --sanitize=fuzzer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  var buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
  // Random bytes almost never carry a right CRC-32C, which would keep the fuzzer out of the
  // message decoders. For inputs whose last byte is odd, fix the checksums up first.
  if size > 0, data[size - 1] & 1 == 1 {
    fixChecksums(&buffer)
  }
  var parser = FrameParser(maxPayloadSize: 1 << 16)
  while true {
    let event: WireEvent?
    do {
      event = try parser.next(from: &buffer)
    } catch {
      precondition(!error.message.isEmpty)
      return 0
    }
    guard case .frame(let frame)? = event else {
      if event == nil { break }
      continue
    }
    let bytes = Array(frame.payload.readableBytesView)
    switch frame.type {
    case .hello: _ = try? Orgsync_V1_Hello(serializedBytes: bytes)
    case .helloAck: _ = try? Orgsync_V1_HelloAck(serializedBytes: bytes)
    case .challenge: _ = try? Orgsync_V1_Challenge(serializedBytes: bytes)
    case .headers: _ = try? Orgsync_V1_RequestHeaders(serializedBytes: bytes)
    case .trailers: _ = try? Orgsync_V1_Trailers(serializedBytes: bytes)
    case .cancel: _ = try? Orgsync_V1_Cancel(serializedBytes: bytes)
    case .goAway: _ = try? Orgsync_V1_GoAway(serializedBytes: bytes)
    case .message:
      // Application payloads: the largest message types a server decodes from clients.
      _ = try? Orgsync_V1_PushRequest(serializedBytes: bytes)
      _ = try? Orgsync_V1_PullRequest(serializedBytes: bytes)
    case .ping, .windowUpdate:
      break
    }
  }
  _ = try? parser.finish(remaining: buffer)
  return 0
}

/// Rewrites the checksum of every frame that fits in `buffer` (after an 8-byte preface).
func fixChecksums(_ buffer: inout ByteBuffer) {
  var offset = buffer.readerIndex + WireFormat.prefaceLength
  while offset + WireFormat.headerLength <= buffer.writerIndex {
    let length = Int(buffer.getInteger(at: offset, as: UInt32.self)!)
    guard length <= buffer.writerIndex - offset - WireFormat.headerLength else { return }
    let header = buffer.getBytes(at: offset, length: 10)!
    let payload = buffer.getBytes(at: offset + WireFormat.headerLength, length: length)!
    buffer.setInteger(crc32c(header + payload), at: offset + 10)
    offset += WireFormat.headerLength + length
  }
}

import NIOCore
import OrgSyncWire
import SwiftProtobuf

/// Frames written during one event-loop tick, gathered into one buffer and flushed once: with
/// many calls in flight, one write system call carries many frames. Shared by the server's and
/// the client's connection handlers (loop-confined, like them).
protocol FrameOutput: AnyObject, Sendable {
  var context: ChannelHandlerContext! { get }
  var out: ByteBuffer { get set }
  var flushScheduled: Bool { get set }
}

extension FrameOutput {
  /// Appends frames to the pending output and makes sure one flush follows this loop tick.
  func emit(_ write: (inout ByteBuffer) -> Void) {
    write(&out)
    if !flushScheduled {
      flushScheduled = true
      context.eventLoop.execute { self.flushNow() }
    }
  }

  /// Writes one control frame whose payload is a protobuf message of our own (always encodes).
  func writeControl(_ type: FrameType, _ message: some SwiftProtobuf.Message, streamID: UInt32 = 0) {
    let payload = try! message.serializedBuffer()
    emit { buffer in
      var payload = payload
      buffer.writeFrame(type: type, streamID: streamID) { $0.writeBuffer(&payload) }
    }
  }

  func flushNow() {
    flushScheduled = false
    guard out.readableBytes > 0, let context, context.channel.isActive else { return }
    let buffer = out
    out = context.channel.allocator.buffer(capacity: 1024)
    context.writeAndFlush(NIOAny(buffer), promise: nil)
  }
}

import NIOCore

/// Decodes a preface and frames from a channel (a thin NIO wrapper over `FrameParser`).
///
/// A malformed input is thrown as a `WireError` through the pipeline; the connection handler
/// above answers it with a GOAWAY and closes. NIO stops calling a decoder after it throws.
public struct FrameDecoder: ByteToMessageDecoder, Sendable {
  public typealias InboundOut = WireEvent

  private var parser: FrameParser

  public init(parser: FrameParser = FrameParser()) {
    self.parser = parser
  }

  public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let event = try parser.next(from: &buffer) else { return .needMoreData }
    context.fireChannelRead(Self.wrapInboundOut(event))
    return .continue
  }

  public mutating func decodeLast(
    context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
  ) throws -> DecodingState {
    while let event = try parser.next(from: &buffer) {
      context.fireChannelRead(Self.wrapInboundOut(event))
    }
    // decodeLast runs when the input ends or the channel goes away: bytes left over are a
    // preface or frame the peer never finished.
    try parser.finish(remaining: buffer)
    return .needMoreData
  }
}

/// Encodes frames for a channel. Callers on a hot path write several frames into one buffer
/// with `ByteBuffer.writeFrame` instead, to save a write call per frame.
public struct FrameEncoder: MessageToByteEncoder, Sendable {
  public typealias OutboundIn = Frame

  public init() {}

  public func encode(data: Frame, out: inout ByteBuffer) throws {
    out.writeFrame(data)
  }
}

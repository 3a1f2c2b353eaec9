import NIOCore

/// The type byte of a frame (docs/PROTOCOL.md, "Frame types").
public enum FrameType: UInt8, Sendable, CaseIterable {
  /// Client → server, stream 0: `Hello`.
  case hello = 0x01
  /// Server → client, stream 0: `HelloAck`.
  case helloAck = 0x02
  /// Server → client, stream 0, first frame: `Challenge`.
  case challenge = 0x03
  /// Opens a call (client → server, `RequestHeaders`) or carries response metadata
  /// (server → client, `ResponseHeaders`).
  case headers = 0x04
  /// One serialized message of a call. Flag `endStream`: the sender sends no more messages.
  case message = 0x05
  /// Server → client: `Trailers`, ends the call.
  case trailers = 0x06
  /// Either side: `Cancel`, abandons the call.
  case cancel = 0x07
  /// Either side, non-zero stream: 4-byte big-endian credit increment.
  case windowUpdate = 0x08
  /// Either side, stream 0: 8 opaque bytes; flag `ack` marks the answer.
  case ping = 0x09
  /// Either side, stream 0: `GoAway`.
  case goAway = 0x0A

  /// Whether frames of this type belong to the connection (stream 0) rather than a call.
  public var isConnectionLevel: Bool {
    switch self {
    case .hello, .helloAck, .challenge, .ping, .goAway: true
    case .headers, .message, .trailers, .cancel, .windowUpdate: false
    }
  }
}

/// Flag bits of a frame. Bits with no meaning for a type are sent as 0 and ignored on receipt.
public struct FrameFlags: OptionSet, Hashable, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// On `message` and `headers`: the sender's half of the call is complete.
  public static let endStream = FrameFlags(rawValue: 0x01)
  /// On `message` with `endStream`: the frame carries no message, it only ends the sender's half.
  public static let noMessage = FrameFlags(rawValue: 0x02)
  /// MESSAGE: the payload is compressed (PROTOCOL.md §3.1); only after both sides agreed in the hello.
  public static let compressed = FrameFlags(rawValue: 0x04)
  /// On `ping`: this is the answer to a ping.
  public static let ack = FrameFlags(rawValue: 0x01)
}

/// One frame: header fields plus payload. The checksum is computed on encode and checked on
/// decode, so it is not stored.
public struct Frame: Hashable, Sendable {
  public var type: FrameType
  public var flags: FrameFlags
  /// 31-bit stream id; 0 for connection-level frames.
  public var streamID: UInt32
  public var payload: ByteBuffer

  public init(type: FrameType, flags: FrameFlags = [], streamID: UInt32, payload: ByteBuffer) {
    self.type = type
    self.flags = flags
    self.streamID = streamID
    self.payload = payload
  }
}

/// The protocol version in a preface.
public struct ProtocolVersion: Hashable, Sendable, Comparable, CustomStringConvertible {
  public var major: UInt8
  public var minor: UInt8

  public init(major: UInt8, minor: UInt8) {
    self.major = major
    self.minor = minor
  }

  /// The version this implementation speaks.
  public static let current = ProtocolVersion(major: 1, minor: 0)

  public static func < (lhs: Self, rhs: Self) -> Bool {
    (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
  }

  public var description: String { "\(major).\(minor)" }
}

/// What a `FrameParser` produces: first the peer's preface, then frames.
public enum WireEvent: Hashable, Sendable {
  case preface(ProtocolVersion)
  case frame(Frame)
}

/// Fixed sizes and defaults of the wire format.
public enum WireFormat {
  /// "ORGS" CR LF, then major and minor version bytes.
  public static let prefaceMagic: [UInt8] = [0x4F, 0x52, 0x47, 0x53, 0x0D, 0x0A]
  /// Length of the preface in bytes.
  public static let prefaceLength = 8
  /// Length of a frame header in bytes.
  public static let headerLength = 14
  /// Largest payload a peer must accept before limits are exchanged (and the default limit).
  public static let defaultMaxPayload = 4 * 1024 * 1024 + 1024
  /// The highest payload length the format can carry with the reserved rules (2^31 - 1).
  public static let absoluteMaxPayload = Int(Int32.max)
}

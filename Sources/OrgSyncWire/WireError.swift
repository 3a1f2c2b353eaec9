/// A violation of the framed protocol found while decoding bytes from a peer.
///
/// Every malformed input maps to one of these codes; the connection that produced it is then
/// closed with a GOAWAY naming the reason (docs/PROTOCOL.md, "Errors"). Decoding never traps
/// and never buffers more than one frame header plus `maxPayloadSize` bytes.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The class of a wire error.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Wrapped: Hashable, Sendable {
      case badPreface, unsupportedVersion, truncated, frameTooLarge, badChecksum, unknownFrameType
      case invalidFrame
    }
    private let wrapped: Wrapped
    private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

    /// The first eight bytes were not an OrgSync preface.
    public static let badPreface = Code(.badPreface)
    /// The preface names a major version this side does not speak.
    public static let unsupportedVersion = Code(.unsupportedVersion)
    /// The stream ended inside a preface or a frame.
    public static let truncated = Code(.truncated)
    /// A frame header announced a payload longer than the receiver's limit.
    public static let frameTooLarge = Code(.frameTooLarge)
    /// The CRC-32C of a frame did not match its header and payload.
    public static let badChecksum = Code(.badChecksum)
    /// A frame type this version does not know.
    public static let unknownFrameType = Code(.unknownFrameType)
    /// A known frame that breaks a rule of its type (stream id, payload size, reserved bit).
    public static let invalidFrame = Code(.invalidFrame)

    public var description: String {
      switch wrapped {
      case .badPreface: "bad preface"
      case .unsupportedVersion: "unsupported version"
      case .truncated: "truncated"
      case .frameTooLarge: "frame too large"
      case .badChecksum: "bad checksum"
      case .unknownFrameType: "unknown frame type"
      case .invalidFrame: "invalid frame"
      }
    }
  }

  /// What kind of violation this is.
  public var code: Code
  /// A sentence for logs and GOAWAY messages; never contains payload bytes.
  public var message: String

  public init(code: Code, message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { "\(code): \(message)" }
}

import OrgSyncProto

/// The outcome of a failed call: a status code from the gRPC set and a sentence for a person.
///
/// Thrown by client calls; thrown by server handlers to choose the status the caller sees
/// (any other error a handler throws reaches the caller as `INTERNAL` with no detail, so that
/// no internal text, or personal data, leaks onto the wire).
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A status code (docs/PROTOCOL.md §4.1). The numbers are gRPC's.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    private init(_ rawValue: Int) { self.rawValue = rawValue }

    /// Maps a wire value; unknown values become `unknown`.
    public init(wire: Orgsync_V1_StatusCode) {
      let raw = wire.rawValue
      self.rawValue = (0...16).contains(raw) ? raw : 2
    }

    public var wire: Orgsync_V1_StatusCode { Orgsync_V1_StatusCode(rawValue: rawValue) ?? .unknown }

    public static let ok = Code(0)
    public static let cancelled = Code(1)
    public static let unknown = Code(2)
    public static let invalidArgument = Code(3)
    public static let deadlineExceeded = Code(4)
    public static let notFound = Code(5)
    public static let alreadyExists = Code(6)
    public static let permissionDenied = Code(7)
    public static let resourceExhausted = Code(8)
    public static let failedPrecondition = Code(9)
    public static let aborted = Code(10)
    public static let outOfRange = Code(11)
    public static let unimplemented = Code(12)
    public static let `internal` = Code(13)
    public static let unavailable = Code(14)
    public static let dataLoss = Code(15)
    public static let unauthenticated = Code(16)

    public var description: String {
      let names = [
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
      ]
      return names[rawValue]
    }
  }

  public var code: Code
  public var message: String
  /// Trailing metadata the server sent with the status.
  public var metadata: Metadata
  /// The underlying error, when the failure is local (never sent on the wire).
  public var cause: (any Error & Sendable)?

  public init(code: Code, message: String, metadata: Metadata = [:], cause: (any Error & Sendable)? = nil) {
    self.code = code
    self.message = message
    self.metadata = metadata
    self.cause = cause
  }

  public var description: String { "\(code): \(message)" }

  public static func == (lhs: RPCError, rhs: RPCError) -> Bool {
    lhs.code == rhs.code && lhs.message == rhs.message && lhs.metadata == rhs.metadata
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(code)
    hasher.combine(message)
  }
}

/// A domain error that knows which status it should reach the caller with.
public protocol RPCErrorConvertible: Error {
  var rpcError: RPCError { get }
}

extension RPCError: RPCErrorConvertible {
  public var rpcError: RPCError { self }
}

extension RPCError {
  /// A request larger than the server's largest frame (refused on the client, before sending).
  static func tooLarge(_ size: Int, limit: Int) -> RPCError {
    RPCError(
      code: .resourceExhausted, message: "a message of \(size) bytes is larger than the \(limit) the server accepts")
  }
}

/// Marks a call the server never started (above a GOAWAY's last stream id): safe to retry.
struct NotStarted: Error {}

/// The server's certificate is not signed by an authority this client trusts (another
/// county's server, an impostor, or a certificate made anew without the county's authority):
/// not an outage, and a person must be told so.
public struct UntrustedServer: Error, Sendable, CustomStringConvertible {
  public let detail: String
  public var description: String { detail }

  /// Whether a TLS handshake failed because the server's certificate did not verify.
  static func isVerificationFailure(_ error: any Error) -> Bool {
    let text = String(describing: error)
    return text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("failedToValidateHostname")
      || text.contains("unableToValidateCertificate")
  }
}

extension RPCError {
  /// The connection failed because the server's certificate did not verify (`UntrustedServer`).
  public var isUntrustedServer: Bool { cause is UntrustedServer }
}

extension RPCError {
  /// A connection that failed before it was ready; a certificate that does not verify is named
  /// as such (not an outage: `RPCClient` says whose server it was).
  static func connectionFailed(_ error: any Error) -> RPCError {
    guard UntrustedServer.isVerificationFailure(error) else {
      return RPCError(code: .unavailable, message: "connection failed: \(error)", cause: error as? any Error & Sendable)
    }
    return RPCError(
      code: .unavailable, message: "the server's certificate is not trusted", cause: UntrustedServer(detail: "\(error)")
    )
  }
}

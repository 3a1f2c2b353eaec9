import OrgSyncProto

/// Who is on the other end of a connection, as the authenticator established it.
public struct PeerIdentity: Sendable {
  /// The device id from HELLO; empty for an anonymous connection.
  public var deviceID: [UInt8]
  /// What the authenticator attached (the device's unit and role, for the server's checks).
  public var principal: (any Sendable)?

  public init(deviceID: [UInt8], principal: (any Sendable)? = nil) {
    self.deviceID = deviceID
    self.principal = principal
  }

  public var isAnonymous: Bool { deviceID.isEmpty }

  /// How logs name the device: the last 8 hex digits of its id (as tables show it), never a name.
  public var logName: String {
    isAnonymous ? "anonymous" : deviceID.suffix(4).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }

  public static let anonymous = PeerIdentity(deviceID: [])
}

/// The decision on a HELLO.
public enum AuthenticationResult: Sendable {
  /// Serve the connection as `peer`; `ackProof` goes into HELLO_ACK (empty when anonymous).
  case accepted(PeerIdentity, ackProof: [UInt8])
  /// Refuse: the server sends GOAWAY(UNAUTHENTICATED) with `reason` and closes.
  case rejected(reason: String)
}

/// Decides whether a HELLO proves a device's identity. The server's device registry implements
/// it; runs once per connection, before any call on it is served.
public protocol ConnectionAuthenticator: Sendable {
  func authenticate(hello: Orgsync_V1_Hello, serverNonce: [UInt8]) async -> AuthenticationResult
}

/// Checks HELLO proofs against a fixed table of stored keys (see `HelloProof`).
public struct StoredKeyAuthenticator: ConnectionAuthenticator {
  /// Stored key per device id.
  public var storedKeys: [[UInt8]: [UInt8]]
  /// Whether a HELLO without a device id is served (only methods that allow anonymous callers).
  public var allowAnonymous: Bool

  public init(storedKeys: [[UInt8]: [UInt8]], allowAnonymous: Bool = true) {
    self.storedKeys = storedKeys
    self.allowAnonymous = allowAnonymous
  }

  public func authenticate(hello: Orgsync_V1_Hello, serverNonce: [UInt8]) async -> AuthenticationResult {
    let deviceID = Array(hello.deviceID)
    if deviceID.isEmpty {
      return allowAnonymous
        ? .accepted(.anonymous, ackProof: []) : .rejected(reason: "anonymous connections are refused")
    }
    guard let key = storedKeys[deviceID],
      HelloProof.verify(
        proof: Array(hello.proof), storedKey: key, serverNonce: serverNonce, clientNonce: Array(hello.clientNonce),
        deviceID: deviceID)
    else {
      return .rejected(reason: "unknown device or wrong credentials")
    }
    let ack = HelloProof.ackProof(storedKey: key, clientNonce: Array(hello.clientNonce), serverNonce: serverNonce)
    return .accepted(PeerIdentity(deviceID: deviceID), ackProof: ack)
  }
}

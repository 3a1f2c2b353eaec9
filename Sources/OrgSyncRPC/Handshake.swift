import Crypto
import Foundation

/// The challenge–response proof of docs/PROTOCOL.md §1.2, shaped like SCRAM (RFC 5802): the
/// server stores only `storedKey = SHA-256(secret)`, yet a stolen copy of the server's
/// database is not enough to log in as a device, and the secret never crosses the wire.
///
///     authMessage = "orgsync-hello-v1" ‖ serverNonce ‖ clientNonce ‖ deviceID
///     proof       = secret XOR HMAC-SHA256(storedKey, authMessage)
///     server:       SHA-256(proof XOR HMAC-SHA256(storedKey, authMessage)) == storedKey
///     ackProof    = HMAC-SHA256(storedKey, "orgsync-ack-v1" ‖ clientNonce ‖ serverNonce)
public enum HelloProof {
  /// Length of a device secret and of the nonces, in bytes.
  public static let secretLength = 32

  /// What the server keeps for a device: SHA-256 of its secret.
  public static func storedKey(secret: [UInt8]) -> [UInt8] {
    Array(SHA256.hash(data: secret))
  }

  static func authMessage(serverNonce: [UInt8], clientNonce: [UInt8], deviceID: [UInt8]) -> [UInt8] {
    Array("orgsync-hello-v1".utf8) + serverNonce + clientNonce + deviceID
  }

  /// The client's proof for HELLO.
  public static func clientProof(
    secret: [UInt8], serverNonce: [UInt8], clientNonce: [UInt8], deviceID: [UInt8]
  ) -> [UInt8] {
    let key = SymmetricKey(data: storedKey(secret: secret))
    let signature = HMAC<SHA256>.authenticationCode(
      for: authMessage(serverNonce: serverNonce, clientNonce: clientNonce, deviceID: deviceID), using: key)
    return zip(secret, signature).map { $0 ^ $1 }
  }

  /// Checks a HELLO proof against the stored key, in constant time.
  public static func verify(
    proof: [UInt8], storedKey: [UInt8], serverNonce: [UInt8], clientNonce: [UInt8], deviceID: [UInt8]
  ) -> Bool {
    guard proof.count == secretLength, storedKey.count == 32 else { return false }
    let signature = HMAC<SHA256>.authenticationCode(
      for: authMessage(serverNonce: serverNonce, clientNonce: clientNonce, deviceID: deviceID),
      using: SymmetricKey(data: storedKey))
    let candidate = zip(proof, signature).map { $0 ^ $1 }
    let digest = Array(SHA256.hash(data: candidate))
    var difference: UInt8 = 0
    for (a, b) in zip(digest, storedKey) { difference |= a ^ b }
    return difference == 0
  }

  /// The server's proof for HELLO_ACK: it knows the device's stored key.
  public static func ackProof(storedKey: [UInt8], clientNonce: [UInt8], serverNonce: [UInt8]) -> [UInt8] {
    Array(
      HMAC<SHA256>.authenticationCode(
        for: Array("orgsync-ack-v1".utf8) + clientNonce + serverNonce, using: SymmetricKey(data: storedKey)))
  }

  /// `count` bytes from the system's secure random source.
  public static func randomBytes(_ count: Int = secretLength) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
  }
}

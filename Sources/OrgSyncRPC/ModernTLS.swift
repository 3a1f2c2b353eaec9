import NIOSSL

extension TLSConfiguration {
  /// Cipher suites for TLS 1.2, all with forward secrecy and authenticated encryption (AES-GCM,
  /// ChaCha20-Poly1305); TLS 1.3's own suites are all of that kind (docs/PROTOCOL.md §1.3).
  public static let modernCipherSuites = [
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
  ].joined(separator: ":")

  /// This configuration with TLS 1.2 as the oldest version and only the suites above: what both
  /// ends of an OrgSync connection use, whatever the caller passed (the TLS library's defaults
  /// still accept TLS 1.0 and CBC suites with SHA-1).
  public var modernOnly: TLSConfiguration {
    var tls = self
    if (tls.minimumTLSVersion.rank) < TLSVersion.tlsv12.rank { tls.minimumTLSVersion = .tlsv12 }
    tls.cipherSuites = Self.modernCipherSuites
    return tls
  }
}

extension TLSVersion {
  fileprivate var rank: Int {
    switch self {
    case .tlsv1: 0
    case .tlsv11: 1
    case .tlsv12: 2
    case .tlsv13: 3
    }
  }
}

import Crypto
import Foundation
import NIOSSL
import OrgSyncRPC
import Testing
import X509

/// A throwaway certificate authority and a server certificate for "localhost", made at test
/// time so that no key material is committed.
struct TestPKI {
  let caCertificate: NIOSSLCertificate
  let serverCertificate: NIOSSLCertificate
  let serverKey: NIOSSLPrivateKey

  init() throws {
    let now = Date()
    let caKey = P256.Signing.PrivateKey()
    let caName = try DistinguishedName { CommonName("OrgSync Test CA") }
    let ca = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
      notValidBefore: now - 3600, notValidAfter: now + 3600, issuer: caName, subject: caName,
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(keyCertSign: true))
      },
      issuerPrivateKey: .init(caKey))
    let key = P256.Signing.PrivateKey()
    let server = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
      notValidBefore: now - 3600, notValidAfter: now + 3600, issuer: caName,
      subject: try DistinguishedName { CommonName("localhost") },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        SubjectAlternativeNames([.dnsName("localhost")])
        try ExtendedKeyUsage([.serverAuth])
      },
      issuerPrivateKey: .init(caKey))
    caCertificate = try NIOSSLCertificate(bytes: Array(ca.serializeAsPEM().pemString.utf8), format: .pem)
    serverCertificate = try NIOSSLCertificate(bytes: Array(server.serializeAsPEM().pemString.utf8), format: .pem)
    serverKey = try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
  }

  var serverTLS: TLSConfiguration {
    .makeServerConfiguration(certificateChain: [.certificate(serverCertificate)], privateKey: .privateKey(serverKey))
  }

  func clientTLS(trusting roots: [NIOSSLCertificate]) -> TLSConfiguration {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(roots)
    return tls
  }
}

@Suite("TLS")
struct TLSTests {
  @Test("a client that trusts the server's CA makes calls over TLS")
  func trusted() async throws {
    let pki = try TestPKI()
    try await withEchoServer(
      configuration: .init(tls: pki.serverTLS, authenticator: testAuthenticator),
      clientConfiguration: { port in
        .init(
          host: "127.0.0.1", port: port, identity: testIdentity, tls: pki.clientTLS(trusting: [pki.caCertificate]),
          tlsServerName: "localhost", connectTimeout: testConnectTimeout)
      }
    ) { client, _, _ in
      let response = try await client.unary(Echo.unary, entry("加密"))
      #expect(response.key == "加密")
    }
  }

  @Test("a client refuses a server whose certificate it does not trust")
  func untrusted() async throws {
    let pki = try TestPKI()
    let other = try TestPKI()
    try await withEchoServer(
      configuration: .init(tls: pki.serverTLS, authenticator: testAuthenticator),
      clientConfiguration: { port in
        .init(
          host: "127.0.0.1", port: port, identity: testIdentity,
          tls: pki.clientTLS(trusting: [other.caCertificate]), tlsServerName: "localhost",
          connectTimeout: testConnectTimeout)
      }
    ) { client, _, _ in
      let error = await #expect(throws: RPCError.self) { try await client.unary(Echo.unary, entry("x")) }
      #expect(error?.code == .unavailable)
    }
  }

  @Test("a plaintext client cannot talk to a TLS server")
  func plaintextToTLS() async throws {
    let pki = try TestPKI()
    try await withEchoServer(configuration: .init(tls: pki.serverTLS, authenticator: testAuthenticator)) {
      client, _, _ in
      let error = await #expect(throws: RPCError.self) {
        try await client.unary(Echo.unary, entry("x"), options: CallOptions(timeout: .seconds(5)))
      }
      #expect(error?.code == .unavailable)
    }
  }
}

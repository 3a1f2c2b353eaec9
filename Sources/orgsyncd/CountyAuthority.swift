import ArgumentParser
import Crypto
import Foundation
import OrgSyncCore
import SwiftASN1
import X509

/// The county's own certificate authority and the server's certificate, kept in the data
/// folder's `tls/` (keys mode 0600). Made by `orgsyncd init` (or the first `serve`), so TLS is
/// on without anyone buying, copying or configuring a certificate; devices pin the CA through
/// their enrolment code (`EnrollmentPin`).
///
/// The server certificate lasts two years and is renewed from the same CA
/// (`orgsyncd tls renew`): devices trust the CA, so a renewal needs nothing on the PCs.
struct CountyAuthority {
  let folder: URL

  var caCertificatePath: String { folder.appendingPathComponent("ca.pem").path }
  var caKeyPath: String { folder.appendingPathComponent("ca-key.pem").path }
  var serverCertificatePath: String { folder.appendingPathComponent("server.pem").path }
  var serverKeyPath: String { folder.appendingPathComponent("server-key.pem").path }
  /// A new authority announced to devices before the server switches to it.
  var nextCACertificatePath: String { folder.appendingPathComponent("next-ca.pem").path }
  var nextCAKeyPath: String { folder.appendingPathComponent("next-ca-key.pem").path }
  /// When a server first announced the next authority (milliseconds since 1970).
  var announcedPath: String { folder.appendingPathComponent("next-ca.announced").path }

  /// Notes that a server is announcing the next authority from now (the first time only).
  func noteAnnounced(now: Date = Date()) throws {
    guard hasNext, !FileManager.default.fileExists(atPath: announcedPath) else { return }
    try write(String(Int64(now.timeIntervalSince1970 * 1000)), to: announcedPath, secret: false)
  }

  /// Since when devices have been told of the next authority; nil: not announced yet.
  func announcedSince() -> Int64? {
    (try? String(contentsOfFile: announcedPath, encoding: .utf8)).flatMap {
      Int64($0.trimmingCharacters(in: .whitespacesAndNewlines))
    }
  }

  init(dataFolder: URL) {
    folder = dataFolder.appendingPathComponent("tls")
  }

  var exists: Bool { FileManager.default.fileExists(atPath: serverCertificatePath) }

  /// Makes the CA (20 years) and a server certificate.
  func create(hosts: [String]) throws {
    try FileManager.default.createDirectory(
      at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    try makeAuthority(certificatePath: caCertificatePath, keyPath: caKeyPath)
    try issueServerCertificate(hosts: hosts)
  }

  var hasNext: Bool { FileManager.default.fileExists(atPath: nextCACertificatePath) }

  /// Makes the next authority; devices are told of it with every sync from now on.
  func rotate() throws {
    try makeAuthority(certificatePath: nextCACertificatePath, keyPath: nextCAKeyPath)
  }

  /// The next authority becomes the current one (the old one is kept as `ca-previous.pem`), and
  /// a server certificate is issued from it.
  func switchToNext(hosts: [String]) throws {
    let previous = folder.appendingPathComponent("ca-previous.pem").path
    _ = try? FileManager.default.removeItem(atPath: previous)
    try FileManager.default.copyItem(atPath: caCertificatePath, toPath: previous)
    guard rename(nextCAKeyPath, caKeyPath) == 0, rename(nextCACertificatePath, caCertificatePath) == 0 else {
      throw ValidationError("cannot move the next authority into place: \(String(cString: strerror(errno)))")
    }
    try issueServerCertificate(hosts: hosts)
    _ = try? FileManager.default.removeItem(atPath: announcedPath)
  }

  /// The authorities devices should trust (DER): the current one, and the next one if any.
  func trustedAuthorities() throws -> [[UInt8]] {
    var result = [try der(of: caCertificatePath)]
    if hasNext { result.append(try der(of: nextCACertificatePath)) }
    return result
  }

  private func der(of path: String) throws -> [UInt8] {
    let certificate = try Certificate(pemEncoded: try String(contentsOfFile: path, encoding: .utf8))
    var serializer = DER.Serializer()
    try serializer.serialize(certificate)
    return serializer.serializedBytes
  }

  private func makeAuthority(certificatePath: String, keyPath: String) throws {
    let now = Date()
    let caKey = P256.Signing.PrivateKey()
    let name = try DistinguishedName {
      OrganizationName("OrgSync")
      CommonName("OrgSync county authority \(RecordID.short(RecordID.make()))")
    }
    let ca = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
      notValidBefore: now - 3600, notValidAfter: now + 20 * 365 * 86_400, issuer: name, subject: name,
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
      },
      issuerPrivateKey: .init(caKey))
    try write(caKey.pemRepresentation, to: keyPath, secret: true)
    try write(try ca.serializeAsPEM().pemString, to: certificatePath, secret: false)
  }

  /// A new server certificate from the existing CA (a new key too); the CA stays.
  func issueServerCertificate(hosts: [String]) throws {
    let caKey = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: caKeyPath, encoding: .utf8))
    let ca = try Certificate(pemEncoded: try String(contentsOfFile: caCertificatePath, encoding: .utf8))
    let key = P256.Signing.PrivateKey()
    let now = Date()
    var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]
    for host in hosts where !host.isEmpty {
      if let ip = Self.ipv4(host) {
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip))))
      } else {
        names.append(.dnsName(host))
      }
    }
    let server = try Certificate(
      version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
      notValidBefore: now - 3600, notValidAfter: now + 2 * 365 * 86_400, issuer: ca.subject,
      subject: try DistinguishedName { CommonName(hosts.first ?? "orgsyncd") },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        SubjectAlternativeNames(names)
        try ExtendedKeyUsage([.serverAuth])
      },
      issuerPrivateKey: .init(caKey))
    try write(key.pemRepresentation, to: serverKeyPath, secret: true)
    // The chain: the server's certificate, then the CA's, so a device can find the CA it pins.
    try write(
      try server.serializeAsPEM().pemString + "\n" + ca.serializeAsPEM().pemString, to: serverCertificatePath,
      secret: false)
  }

  /// The pin devices check (see `EnrollmentPin`).
  func pin() throws -> String {
    EnrollmentPin.pin(certificateDER: try der(of: caCertificatePath))
  }

  private func write(_ text: String, to path: String, secret: Bool) throws {
    let temporary = path + ".new"
    FileManager.default.createFile(
      atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: secret ? 0o600 : 0o644])
    guard rename(temporary, path) == 0 else {
      throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
  }

  static func ipv4(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ".")
    guard parts.count == 4 else { return nil }
    let bytes = parts.compactMap { UInt8($0) }
    return bytes.count == 4 ? bytes : nil
  }
}

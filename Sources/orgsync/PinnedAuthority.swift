import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import OrgSyncCore
import Synchronization

/// Finds the county's CA by the pin an enrolment code carries (`EnrollmentPin`).
///
/// One TLS handshake only to read the certificates the server presents — nothing is sent on
/// that connection, and it is closed at once. The certificate whose pin matches becomes the
/// only authority the device trusts; enrolment then runs on a new connection that fully
/// verifies the server's certificate against it. So an impostor can present the county's
/// (public) CA certificate, but without the CA's key its own certificate fails the second
/// handshake.
enum PinnedAuthority {
  struct Mismatch: Error {}

  /// The PEM of the presented certificate whose pin is `pin`.
  static func fetch(host: String, port: Int, pin: String) async throws -> String {
    var configuration = TLSConfiguration.makeClientConfiguration()
    configuration.certificateVerification = .noHostnameVerification
    let context = try NIOSSLContext(configuration: configuration)
    let presented = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: [NIOSSLCertificate].self)
    let settled = Once()
    /// Completes `presented` once, whichever comes first: the chain or the close.
    let settle: @Sendable (Result<[NIOSSLCertificate], any Error>) -> Void = { result in
      if settled.first() { presented.completeWith(result) }
    }
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(15))
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            // Our own check replaces the usual one: record what was presented, then stop.
            let handler = try NIOSSLClientHandler(context: context, serverHostname: nil) { chain, verdict in
              settle(.success(chain))
              verdict.succeed(NIOSSLVerificationResult.failed)
            }
            try channel.pipeline.syncOperations.addHandler(handler)
          }
        }
        .connect(host: host, port: port).get()
    } catch {
      settle(.failure(error))
      throw error
    }
    defer { channel.close(promise: nil) }
    channel.closeFuture.whenComplete { _ in settle(.failure(ChannelError.ioOnClosedChannel)) }
    let chain = try await presented.futureResult.get()
    for certificate in chain {
      let der = try certificate.toDERBytes()
      if EnrollmentPin.pin(certificateDER: der) == pin {
        let base64 = der.base64Lines()
        return "-----BEGIN CERTIFICATE-----\n\(base64)\n-----END CERTIFICATE-----\n"
      }
    }
    throw Mismatch()
  }
}

private final class Once: Sendable {
  private let done = Atomic<Bool>(false)
  func first() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

extension Array where Element == UInt8 {
  /// Base64 in lines of 64 characters, as PEM has it.
  fileprivate func base64Lines() -> String {
    let text = Data(self).base64EncodedString()
    var lines: [Substring] = []
    var rest = Substring(text)
    while !rest.isEmpty {
      lines.append(rest.prefix(64))
      rest = rest.dropFirst(64)
    }
    return lines.joined(separator: "\n")
  }
}

import ArgumentParser
import CSV
import Foundation
import Logging
import Metrics
import NIOSSL
import OrgSyncCLI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncSample
import OrgSyncServer
import OrgSyncStore
import Prometheus
import ServiceLifecycle

struct TLSCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tls", abstract: "The county's certificate authority and the server's certificate.",
    subcommands: [Renew.self, Show.self, Rotate.self, Switch.self], defaultSubcommand: Show.self)

  struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Make a new certificate authority and announce it to every PC with each sync.",
      discussion:
        "Restart `orgsyncd serve` to start announcing it. Once every PC has synced (orgsyncd devices list), run `orgsyncd tls switch`: no PC needs to be enrolled again."
    )
    @OptionGroup var options: DataOptions

    func run() async throws {
      let authority = CountyAuthority(dataFolder: options.folder)
      guard authority.exists else { throw ValidationError("no certificates in \(authority.folder.path)") }
      guard !authority.hasNext else {
        throw ValidationError("a new authority is announced already; run `orgsyncd tls switch`")
      }
      try authority.rotate()
      print("made a new certificate authority: \(authority.nextCACertificatePath)")
      print("restart the server; each PC learns of it with its next sync; then: orgsyncd tls switch")
    }
  }

  struct Switch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Serve with the announced authority (restart `orgsyncd serve` afterwards).")
    @OptionGroup var options: DataOptions
    @Option(name: .customLong("host"), help: "A name or IPv4 address devices use (repeat for several).")
    var hosts: [String] = []
    @Flag(help: "Switch even though some PCs have not synced since the new authority was announced.")
    var force = false

    func run() async throws {
      let authority = CountyAuthority(dataFolder: options.folder)
      guard authority.hasNext else {
        throw ValidationError("no new authority is announced: run `orgsyncd tls rotate` first")
      }
      guard let since = authority.announcedSince() else {
        throw ValidationError(
          "no server has announced the new authority yet: restart `orgsyncd serve`, let the PCs sync, then switch")
      }
      let behind = try await options.store().devices().filter { $0.revokedAt == nil && ($0.lastSeenAt ?? 0) < since }
      if !behind.isEmpty, !force {
        throw ValidationError(
          "\(behind.count) PCs have not synced since the new authority was announced (orgsyncd devices list); they would need `orgsync enroll --replace`. Wait for them, or add --force"
        )
      }
      try authority.switchToNext(hosts: hosts)
      print("now serving with the new authority; restart `orgsyncd serve`")
      print("new pin for enrolment codes: \(EnrollmentPin.printed(code: "", pin: try authority.pin()))")
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print where the certificates are and the CA's pin.")
    @OptionGroup var options: DataOptions

    func run() async throws {
      let authority = CountyAuthority(dataFolder: options.folder)
      guard authority.exists else { throw ValidationError("no certificates in \(authority.folder.path)") }
      print("certificate authority: \(authority.caCertificatePath)")
      print("server certificate:    \(authority.serverCertificatePath)")
      print("pin (in every enrolment code): \(EnrollmentPin.printed(code: "", pin: try authority.pin()))")
    }
  }

  struct Renew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Issue a new server certificate from the same authority; enrolled PCs need nothing.",
      discussion: "Restart `orgsyncd serve` afterwards to use it.")
    @OptionGroup var options: DataOptions
    @Option(name: .customLong("host"), help: "A name or IPv4 address devices use (repeat for several).")
    var hosts: [String] = []

    func run() async throws {
      let authority = CountyAuthority(dataFolder: options.folder)
      guard authority.exists else { throw ValidationError("no certificates in \(authority.folder.path)") }
      try authority.issueServerCertificate(hosts: hosts)
      print("issued a new server certificate: \(authority.serverCertificatePath)")
    }
  }
}

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

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Serve the sync protocol until SIGTERM or SIGINT.")
  @OptionGroup var options: DataOptions
  @Option(help: "Address to listen on.") var host = "0.0.0.0"
  @Option(help: "Port to listen on.") var port = 7443
  @Option(help: "PEM certificate chain, instead of the county authority's in the data folder.")
  var tlsCertificate: String?
  @Option(help: "PEM private key, with --tls-certificate.") var tlsKey: String?
  @Flag(help: "Serve plain TCP, without TLS (a test network only: secrets and personal data cross it unencrypted).")
  var plaintext = false
  @Option(help: "Calls served at once per connection.") var maxStreams = 100
  @Option(help: "Seconds without traffic before a connection is closed.") var idleTimeout = 300
  @Option(help: "Seconds a new connection has, from the TCP accept, to finish TLS and its hello.")
  var helloTimeout = 15
  @Option(help: "Port for /metrics and /health (0: off).") var adminPort = 0
  @Option(help: "Address of the admin port.") var adminHost = "127.0.0.1"
  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
  @Option(help: "Seconds calls in flight may take to finish after SIGTERM.") var gracePeriod = 20
  @Option(help: "/health fails when the data folder's disk has less free space than this (MiB).")
  var minFreeMib = 200
  @Option(help: "Days after which a deleted member's name, phone, birth date and notes are erased (30 to 3650).")
  var purgeDeletedAfterDays = 180

  func validate() throws {
    guard (0...65_535).contains(port) else { throw ValidationError("--port is 0 to 65535") }
    guard (0...65_535).contains(adminPort) else { throw ValidationError("--admin-port is 0 to 65535 (0: off)") }
    guard adminPort == 0 || adminPort != port else {
      throw ValidationError("--admin-port must differ from --port (the devices' port)")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level is one of trace, debug, info, notice, warning, error, critical")
    }
    guard (1...600).contains(gracePeriod) else { throw ValidationError("--grace-period is 1 to 600 seconds") }
    guard (1...600).contains(helloTimeout) else { throw ValidationError("--hello-timeout is 1 to 600 seconds") }
    guard (30...3650).contains(purgeDeletedAfterDays) else {
      throw ValidationError("--purge-deleted-after-days is 30 to 3650")
    }
  }

  func run() async throws {
    let level = Logger.Level(rawValue: logLevel) ?? .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "orgsyncd")
    // First: from here on SIGTERM and SIGINT always end the process (ServerProcess).
    let watchdog = StopWatchdog(limit: .seconds(gracePeriod + 5), logger: logger)
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

    // One server per SQLite file; on PostgreSQL, as many as share the database.
    let lock = options.postgresURL == nil ? try DataLock(path: options.lockPath) : nil
    defer { lock?.release() }
    do {
      try await ServerProcess.checkPortsFree(
        [(host, port, "devices")] + (adminPort == 0 ? [] : [(adminHost, adminPort, "the admin port")]))
    } catch {
      logger.critical("\(error)")
      throw ExitCode(69)
    }
    let store: any SQLRecordStore
    let history: [UInt8]
    do {
      store = try await options.store()
      // A new history at every start: a replica whose position lies in a tail this file lacks
      // (restored, rolled back) is told so instead of skipping changes.
      history = try await store.beginHistory(reason: "serve")
    } catch let error as ValidationError {
      throw error
    } catch {
      logger.critical("cannot open the database: \(error)")
      throw ExitCode(69)
    }
    logger.info(
      "began a new history (restored or rolled-back copies are told apart by it)",
      metadata: ["id": "\(RecordID.short(history))"])
    var tls: TLSConfiguration?
    var announced: [[UInt8]] = []
    switch (tlsCertificate, tlsKey) {
    case (let certificate?, let key?):
      tls = .makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
    case (nil, nil) where plaintext:
      tls = nil
      logger.warning("serving without TLS (--plaintext)")
    case (nil, nil):
      let authority = CountyAuthority(dataFolder: options.folder)
      if !authority.exists {
        try authority.create(hosts: [])
        logger.notice("made the county's certificate authority", metadata: ["folder": "\(authority.folder.path)"])
      }
      announced = try authority.trustedAuthorities()
      try authority.noteAnnounced()
      tls = .makeServerConfiguration(
        certificateChain: try NIOSSLCertificate.fromPEMFile(authority.serverCertificatePath).map { .certificate($0) },
        privateKey: .privateKey(try NIOSSLPrivateKey(file: authority.serverKeyPath, format: .pem)))
    default:
      throw ValidationError("--tls-certificate and --tls-key go together")
    }
    var limits = ConnectionLimits.defaults
    limits.maxConcurrentStreams = maxStreams
    limits.idleTimeout = .seconds(idleTimeout)
    limits.helloTimeout = .seconds(helloTimeout)
    // Devices take turns at the store (and the hello's device lookup with them).
    let shared = FairShareStore(store)
    let server = RPCServer(
      configuration: .init(
        host: host, port: port, limits: limits, tls: tls, shutdownGracePeriod: .seconds(gracePeriod),
        authenticator: DeviceAuthenticator(store: shared, logger: logger)),
      services: [
        SyncService(store: shared, logger: logger, trustedAuthorities: announced),
        EnrollmentService(store: shared, logger: logger),
      ],
      logger: logger)
    let minFree = Int64(minFreeMib) << 20
    let admin =
      adminPort == 0
      ? nil
      : ServerProcess.Admin(
        host: adminHost, port: adminPort, registry: registry,
        storeHealth: { await store.health(minFreeBytes: minFree) })
    do {
      try await ServerProcess.run(
        server: server, admin: admin,
        jobs: [.retention(store: store, days: purgeDeletedAfterDays, logger: logger)],
        grace: .seconds(gracePeriod), watchdog: watchdog, logger: logger)
    } catch is ServerProcess.StartFailure {
      throw ExitCode(69)  // already logged, in one line naming what failed
    }
  }
}

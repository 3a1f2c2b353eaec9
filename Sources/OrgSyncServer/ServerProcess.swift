import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import OrgSyncRPC
import OrgSyncStore
import Prometheus
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// `orgsyncd serve` once its store and TLS are ready: the sync listener, the admin port and the
/// background jobs as one process that either serves or ends.
///
/// - A part the server needs (the sync listener, the admin port) that cannot start or fails
///   later ends the process with one line naming what failed; `run` throws `StartFailure`.
/// - Background jobs start after the listener is up and never stop anything (`BackgroundJobs`).
/// - SIGTERM and SIGINT always end it: before serving at once, while serving after a graceful
///   stop of at most the grace period (then whatever still runs is cut), and a second signal
///   at once. `StopWatchdog` guarantees it even if some part ignored the request.
public enum ServerProcess {
  public struct Admin: Sendable {
    public var host: String
    public var port: Int
    public var registry: PrometheusCollectorRegistry
    public var storeHealth: @Sendable () async -> StoreHealth

    public init(
      host: String, port: Int, registry: PrometheusCollectorRegistry,
      storeHealth: @escaping @Sendable () async -> StoreHealth
    ) {
      self.host = host
      self.port = port
      self.registry = registry
      self.storeHealth = storeHealth
    }
  }

  /// A part of the server failed; the message is what the operator reads.
  public struct StartFailure: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
  }

  public static func run(
    server: RPCServer, admin: Admin?, jobs: [BackgroundJob], grace: Duration, watchdog: StopWatchdog?,
    logger: Logger
  ) async throws {
    // A certificate PCs refuse would make a server that listens and serves no one.
    if let notAfter = server.status.certificateNotAfter, notAfter < Int(Date().timeIntervalSince1970) {
      let message =
        "the server's TLS certificate expired on \(day(notAfter)): PCs cannot connect; run `orgsyncd tls renew` and start again"
      logger.critical("\(message)")
      throw StartFailure(message: message)
    }
    let background = BackgroundJobs(jobs, after: server, logger: logger)
    // The group stops its services in reverse order: background work first, then the listener
    // (draining calls in flight), the admin port last, so /health says "stopping" meanwhile.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let admin {
      let adminServer = AdminServer(
        host: admin.host, port: admin.port, registry: admin.registry, logger: logger,
        health: { await health(listener: server, store: admin.storeHealth, background: background) },
        databaseBytes: { await admin.storeHealth().databaseBytes })
      services.append(
        .init(
          service: Essential(adminServer, name: "admin port", watchdog: watchdog, logger: logger),
          successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup))
    }
    services += [
      .init(
        service: Essential(server, name: "sync listener", watchdog: watchdog, logger: logger),
        successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .cancelGroup),
      .init(service: background, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
    ]
    // Without a watchdog (in-process tests) the caller stops the server by cancelling.
    var configuration = ServiceGroupConfiguration(
      services: services, gracefulShutdownSignals: watchdog == nil ? [] : [.sigterm, .sigint], logger: logger)
    // Past the grace period the group cancels what still runs; the watchdog is the last resort.
    configuration.maximumGracefulShutdownDuration = grace + .seconds(2)
    let group = ServiceGroup(configuration: configuration)
    watchdog?.serving { await group.triggerGracefulShutdown() }
    do {
      try await group.run()
    } catch {
      throw StartFailure(message: "\(error)")
    }
  }

  /// Binds each port once and lets it go, before `serve` writes anything: a port another
  /// program holds ends the start with the same one line, and leaves no new history behind.
  /// (The real bind can still lose a race; then the listener fails the same way.)
  public static func checkPortsFree(_ ports: [(host: String, port: Int, what: String)]) async throws {
    for (host, port, what) in ports where port != 0 {
      do {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
          .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
          .bind(host: host, port: port).get()
        try await channel.close()
      } catch {
        throw ListenerError(error, host: host, port: port, what: what)
      }
    }
  }

  /// What `/health` reports: "ok" only when a device could sync now.
  static func health(
    listener: RPCServer, store: @Sendable () async -> StoreHealth, background: BackgroundJobs
  ) async -> StoreHealth {
    let (listening, line) = await probe(listener)
    let stored = await store()
    return StoreHealth(
      ok: listening && stored.ok, lines: [line] + stored.lines + background.healthLines(),
      databaseBytes: stored.databaseBytes)
  }

  /// Connects to the sync listener as a device would and waits until the server has taken the
  /// connection in: a bound socket whose accept loop stopped would not pass.
  public static func probe(_ listener: RPCServer) async -> (Bool, String) {
    let status = listener.status
    guard status.phase == .listening, var address = status.address else {
      let phase =
        switch status.phase {
        case .starting: "starting"
        case .stopping: "stopping"
        case .stopped: "stopped"
        case .failed(let reason): "FAILED: \(reason)"
        case .listening: "no address"
        }
      return (false, "sync listener: NOT serving (\(phase))")
    }
    if let ip = address.ipAddress, ip == "0.0.0.0" || ip == "::", let port = address.port {
      address = (try? SocketAddress(ipAddress: ip == "::" ? "::1" : "127.0.0.1", port: port)) ?? address
    }
    let before = status.accepted
    let started = ContinuousClock.now
    var taken = false
    if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connectTimeout(.seconds(15)).connect(to: address).get()
    {
      while !taken, ContinuousClock.now - started < .seconds(15) {
        taken = listener.status.accepted > before
        if !taken { try? await Task.sleep(for: .milliseconds(5)) }
      }
      try? await channel.close()
    }
    let took = ContinuousClock.now - started
    let milliseconds = took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000
    let place = status.address.map(describe) ?? "?"
    guard taken else {
      return (false, "sync listener: NOT accepting on \(place) (a test connection was not taken in)")
    }
    var line =
      "sync listener: accepting on \(place)\(status.tls ? " with TLS" : " without TLS")"
      + " (test connection taken in \(milliseconds) ms); \(status.openConnections) connections open"
    if let notAfter = status.certificateNotAfter {
      let now = Int(Date().timeIntervalSince1970)
      guard notAfter > now else {
        return (
          false,
          "sync listener: the TLS certificate EXPIRED on \(day(notAfter)): PCs cannot connect (`orgsyncd tls renew`, then restart)"
        )
      }
      line += "; certificate valid until \(day(notAfter))"
      if notAfter - now < 30 * 86_400 { line += " (renew it soon: `orgsyncd tls renew`)" }
    }
    if let hello = status.sinceLastHello {
      line += "; last device hello \(BackgroundJobs.seconds(hello)) ago"
    } else {
      line += "; no device hello since start"
    }
    return (true, line)
  }
}

/// A day as YYYY-MM-DD (UTC).
func day(_ seconds: Int) -> String {
  let format = DateFormatter()
  format.dateFormat = "yyyy-MM-dd"
  format.timeZone = TimeZone(identifier: "UTC")
  format.locale = Locale(identifier: "en_US_POSIX")
  return format.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// HOST:PORT as an operator writes it.
func describe(_ address: SocketAddress) -> String {
  guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
  return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
}

/// A service the server cannot do without: its failure is logged as one clear line at once and
/// arms the watchdog, so the process ends even if another part ignores being cancelled.
struct Essential: Service {
  let service: any Service
  let name: String
  let watchdog: StopWatchdog?
  let logger: Logger

  init(_ service: any Service, name: String, watchdog: StopWatchdog?, logger: Logger) {
    self.service = service
    self.name = name
    self.watchdog = watchdog
    self.logger = logger
  }

  func run() async throws {
    do {
      try await service.run()
    } catch is CancellationError where Task.isCancelled {
      return  // the process stops for another reason
    } catch {
      logger.critical("\(error is ListenerError ? "\(error)" : "the \(name) failed: \(error)")")
      watchdog?.arm(reason: "the \(name) failed")
      throw error
    }
  }
}

/// Makes sure the process ends when asked to, or when a part it needs has failed.
///
/// Installed first thing in `serve`: SIGTERM or SIGINT before serving ends the process at once
/// (a start cut short leaves the database as a crash would: whole); while serving, it asks the
/// service group to stop and gives it `limit`; a second signal, or the limit passing, ends the
/// process. Why its own signal sources: the service group listens only while it runs, and
/// ignores signals once it is cancelling — a stuck part then kept the process alive for good.
public final class StopWatchdog: Sendable {
  private struct State {
    var stop: (@Sendable () async -> Void)?
    var armed = false
    var signals = 0
  }

  private let limit: Duration
  private let logger: Logger
  private let state = Mutex(State())
  /// Set once in `init`, only kept alive afterwards.
  nonisolated(unsafe) private var sources: [any DispatchSourceSignal] = []

  public init(limit: Duration, logger: Logger) {
    self.limit = limit
    self.logger = logger
    var made: [any DispatchSourceSignal] = []
    for number in [SIGTERM, SIGINT] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { [weak self] in self?.signalled(number) }
      source.resume()
      made.append(source)
    }
    sources = made
  }

  /// From now on a signal asks `stop` first.
  func serving(stop: @escaping @Sendable () async -> Void) {
    state.withLock { $0.stop = stop }
  }

  private func signalled(_ number: Int32) {
    let (stop, count) = state.withLock { state in
      state.signals += 1
      return (state.stop, state.signals)
    }
    let name = number == SIGTERM ? "SIGTERM" : "SIGINT"
    guard let stop else {
      logger.notice("stopped before serving", metadata: ["signal": "\(name)"])
      Self.end(0)
    }
    if count > 1 {
      logger.notice("stopping now: asked twice", metadata: ["signal": "\(name)"])
      Self.end(1)
    }
    logger.notice("stopping: calls in flight may finish first (a second \(name) stops at once)")
    arm(reason: name)
    Task { await stop() }
  }

  /// Ends the process `limit` from now unless it has ended by then.
  func arm(reason: String) {
    let first = state.withLock { state in
      defer { state.armed = true }
      return !state.armed
    }
    guard first else { return }
    let limit = self.limit
    let logger = self.logger
    let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
      logger.error(
        "still running \(limit.components.seconds) s after stopping began; ending the process",
        metadata: ["reason": "\(reason)"])
      Self.end(70)
    }
  }

  /// Ends at once, without running exit handlers while other threads still work: the
  /// database is left as after a power cut, which it is built to survive.
  static func end(_ code: Int32) -> Never {
    fflush(nil)  // every output stream
    _exit(code)
  }
}

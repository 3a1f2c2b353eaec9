import Logging
import Metrics
import OrgSyncRPC
import ServiceLifecycle
import Synchronization

/// Work the server does beside serving devices (erasing expired personal data, say).
public struct BackgroundJob: Sendable {
  public let name: String
  /// How long after the listener is up the first run starts: devices come first.
  public let firstDelay: Duration
  public let interval: Duration
  public let work: @Sendable () async throws -> Void

  public init(
    name: String, firstDelay: Duration, interval: Duration, work: @escaping @Sendable () async throws -> Void
  ) {
    self.name = name
    self.firstDelay = firstDelay
    self.interval = interval
    self.work = work
  }
}

/// Runs the background jobs once the sync listener is up, each on its own schedule. A job that
/// fails is logged and counted (`orgsync_background_failures_total{job=…}`) and runs again at
/// its next turn; one that hangs only delays itself. Neither stops, stalls or outlives serving:
/// at shutdown the jobs are cancelled and not waited for (their writes are transactions, so a
/// job cut short leaves nothing half done). `/health` lists each job's last outcome.
public final class BackgroundJobs: Service, Sendable {
  private struct Status {
    var runningSince: ContinuousClock.Instant?
    var lastSuccess: ContinuousClock.Instant?
    var lastFailure: (at: ContinuousClock.Instant, message: String)?
    var failures = 0
  }

  private let jobs: [BackgroundJob]
  private let listener: RPCServer
  private let logger: Logger
  private let status: Mutex<[String: Status]>

  public init(_ jobs: [BackgroundJob], after listener: RPCServer, logger: Logger) {
    self.jobs = jobs
    self.listener = listener
    self.logger = logger
    self.status = Mutex(Dictionary(jobs.map { ($0.name, Status()) }, uniquingKeysWith: { a, _ in a }))
  }

  public func run() async {
    // A listener that never came up: the process is stopping, nothing to do.
    guard (try? await listener.localAddress()) != nil else { return }
    let tasks = jobs.map { job in Task { await self.loop(job) } }
    try? await gracefulShutdown()
    for task in tasks { task.cancel() }
  }

  private func loop(_ job: BackgroundJob) async {
    do { try await Task.sleep(for: job.firstDelay) } catch { return }
    while !Task.isCancelled {
      status.withLock { $0[job.name]?.runningSince = .now }
      do {
        try await job.work()
        status.withLock {
          $0[job.name]?.runningSince = nil
          $0[job.name]?.lastSuccess = .now
        }
      } catch {
        if Task.isCancelled { return }
        let message = "\(error)"
        status.withLock {
          $0[job.name]?.runningSince = nil
          $0[job.name]?.lastFailure = (.now, message)
          $0[job.name]?.failures += 1
        }
        Counter(label: "orgsync_background_failures_total", dimensions: [("job", job.name)]).increment()
        logger.error("background job failed", metadata: ["job": "\(job.name)", "error": "\(message)"])
      }
      do { try await Task.sleep(for: job.interval) } catch { return }
    }
  }

  /// One line per job for `/health`: informative only — devices sync whatever a job does.
  public func healthLines(now: ContinuousClock.Instant = .now) -> [String] {
    let status = self.status.withLock { $0 }
    return jobs.map { job in
      let state = status[job.name] ?? Status()
      var parts: [String] = []
      if let since = state.runningSince { parts.append("running for \(Self.seconds(now - since))") }
      if let ok = state.lastSuccess { parts.append("last ok \(Self.seconds(now - ok)) ago") }
      if let failure = state.lastFailure {
        parts.append("FAILED \(Self.seconds(now - failure.at)) ago (\(state.failures) times): \(failure.message)")
      }
      if parts.isEmpty { parts.append("not run yet") }
      return "background \(job.name): " + parts.joined(separator: "; ")
    }
  }

  static func seconds(_ duration: Duration) -> String {
    "\(max(0, duration.components.seconds)) s"
  }
}

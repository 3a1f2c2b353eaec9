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

/// Erases deleted members' personal data once the retention period is over: at start, then
/// daily.
struct RetentionService: Service {
  let store: any SQLRecordStore
  let days: Int
  let logger: Logger

  func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - Int64(days) * 86_400_000
        do {
          let purged = try await store.purgeDeletedPersonalData(before: cutoff)
          if purged > 0 {
            logger.notice(
              "erased the personal data of deleted members past the retention period",
              metadata: ["members": "\(purged)", "days": "\(days)"])
          }
        } catch {
          logger.error("could not erase expired personal data", metadata: ["error": "\(error)"])
        }
        // Stopping (SIGTERM) cancels the wait: a normal end, not a failure.
        do { try await Task.sleep(for: .seconds(86_400)) } catch { return }
      }
    }
  }
}

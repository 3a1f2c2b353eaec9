import Foundation
import Logging
import OrgSyncStore

extension BackgroundJob {
  /// Erases deleted members' personal data once the retention period is over: first a minute
  /// after the listener is up (devices reconnecting after a restart come first), then daily.
  public static func retention(
    store: any SQLRecordStore, days: Int, logger: Logger, firstDelay: Duration = .seconds(60)
  ) -> BackgroundJob {
    BackgroundJob(name: "retention", firstDelay: firstDelay, interval: .seconds(86_400)) {
      let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - Int64(days) * 86_400_000
      let purged = try await store.purgeDeletedPersonalData(before: cutoff)
      if purged > 0 {
        logger.notice(
          "erased the personal data of deleted members past the retention period",
          metadata: ["members": "\(purged)", "days": "\(days)"])
      }
    }
  }
}

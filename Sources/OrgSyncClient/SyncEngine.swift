import Foundation
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import Synchronization

/// Where a sync is, for a progress bar.
public struct SyncProgress: Sendable, Hashable {
  public enum Phase: Sendable, Hashable {
    case pushing, pulling, conflicts, verifying, done
  }
  public var phase: Phase
  public var done: Int
  /// 0 when unknown.
  public var total: Int
  /// Payload bytes received so far.
  public var bytes: Int
}

/// What a sync did.
public struct SyncReport: Sendable, Hashable {
  public var pushed = 0
  public var rejected = 0
  public var conflicts = 0
  public var pulled = 0
  public var pages = 0
  public var reset = false
  /// The server had lost history (restored from an older backup): this device healed it.
  public var healed = false
  /// Accepted mutations offered again to the server during a heal.
  public var offeredAgain = 0
  /// Records the server lost that this device could not write back; kept here (`held`).
  public var held = 0
}

/// What verify found and repaired.
public struct VerifyReport: Sendable, Hashable {
  /// Types whose count or hash differed from the server's.
  public var mismatchedTypes: [Orgsync_V1_RecordType] = []
  /// Records fetched again (missing or out of date here).
  public var fetched = 0
  /// Records dropped (not in the scope on the server).
  public var removed = 0
  /// Records the server lacked that this device had written: their edits were offered again.
  public var offeredAgain = 0
  /// Records the server lacks that this device could not write back: kept aside, not deleted.
  public var held = 0
  /// The sync that began verify found the server's history changed and healed.
  public var healed = false
}

/// Reconciles a replica with the server: push the outbox (idempotent), pull pages (each
/// applied with its cursor in one transaction), refresh the conflict inbox. Every step can be
/// interrupted at any byte and run again: nothing is skipped or applied twice.
public struct SyncEngine: Sendable {
  public let replica: Replica
  public let client: RPCClient
  public var pushBatch = 500
  public var pageSize = 1000
  public var timeout: Duration = .seconds(120)

  public init(replica: Replica, client: RPCClient) {
    self.replica = replica
    self.client = client
  }

  /// Push, pull, conflicts. Cancel the task to stop; what was committed stays.
  public func sync(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> SyncReport {
    var report = SyncReport()
    do {
      if try await replica.blocking { try $0.isHealing() } { try await heal(&report) }  // an interrupted heal resumes
      try await push(&report, progress: progress)
      if try await !pull(&report, progress: progress) {
        try await heal(&report)
        try await push(&report, progress: progress)
        guard try await pull(&report, progress: progress) else {
          throw RPCError(code: .internal, message: "the server's history changed twice during one sync")
        }
      }
      if try await replica.blocking { try $0.isHealing() } {
        report.held += try await replica.blocking { try $0.finishHeal(now: Self.nowMillis) }
      }
      try await refreshConflicts(&report, progress: progress)
    } catch let error as RPCError where error.code == .deadlineExceeded {
      await client.dropConnection()  // the link may be stalled: the next sync starts afresh
      throw error
    }
    try await replica.blocking { try $0.markSynced(at: Self.nowMillis) }
    // Once, after the first sync under the policy: what the server now withholds goes here too.
    _ = try await replica.blocking { try $0.dropWithheldPersonalData() }
    progress(SyncProgress(phase: .done, done: report.pulled, total: report.pulled, bytes: 0))
    return report
  }

  func push(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws {
    let total = try await replica.blocking { try $0.status() }.outbox
    var done = 0
    var conflicted: [[UInt8]] = []
    var healedHere = false
    while true {
      try Task.checkCancellation()
      let batch = try await replica.blocking { try $0.outboxBatch(limit: pushBatch) }
      if batch.isEmpty { break }
      progress(SyncProgress(phase: .pushing, done: done, total: total, bytes: 0))
      var request = Orgsync_V1_PushRequest()
      request.mutations = batch
      request.knownPositions = try await replica.blocking { try $0.knownPositions() }
      // While healing, edits queued against the lost history land on what the server holds.
      request.replay = try await replica.blocking { try $0.isHealing() }
      let response = try await client.unary(SyncAPI.push, request, options: CallOptions(timeout: timeout))
      if response.historyChanged {
        guard !healedHere else {
          throw RPCError(code: .internal, message: "the server's history changed twice during one sync")
        }
        healedHere = true
        try await heal(&report)
        continue
      }
      guard response.results.count == batch.count else {
        throw RPCError(code: .internal, message: "the server answered \(response.results.count) of \(batch.count)")
      }
      let applied = try await replica.blocking {
        try $0.applyPushResults(
          response.results, sent: batch, position: response.position, now: Self.nowMillis)
      }
      report.pushed += applied.accepted
      report.rejected += applied.rejected
      conflicted += applied.conflicted
      done += batch.count
    }
    if done > 0 { try await replica.blocking { try $0.compactJournal() } }
    // Where this device's edit lost a conflict, the record may not change on the server again:
    // fetch it now so the replica shows what the server kept.
    if !conflicted.isEmpty { try await refetch(conflicted) }
  }

  /// Pulls every page. False: the server's history does not hold this replica's positions
  /// (nothing was applied; heal, then pull again).
  ///
  /// The call's deadline bounds silence, not the whole transfer: a first pull of a county over
  /// a 64 kbit/s line takes far longer than any sensible deadline. Every page is committed
  /// with its cursor as it arrives, so when a call runs out of time after bringing pages, a
  /// new call carries on from the last page applied. Only a call that brought nothing in its
  /// whole deadline ends the sync with DEADLINE_EXCEEDED.
  func pull(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws -> Bool {
    let replica = self.replica
    let tally = Mutex((pulled: 0, pages: 0, reset: false, bytes: 0, total: 0))
    while true {
      var request = Orgsync_V1_PullRequest()
      request.cursor = Data(try await replica.blocking { try $0.cursor() })
      request.pageSize = UInt32(pageSize)
      request.knownPositions = try await replica.blocking { try $0.knownPositions() }
      let pagesBefore = tally.withLock { $0.pages }
      do {
        let complete = try await client.serverStreaming(
          SyncAPI.pull, request, options: CallOptions(timeout: timeout)
        ) { pages -> Bool in
          for try await page in pages {
            try Task.checkCancellation()
            if page.historyChanged { return false }
            try await replica.blocking { try $0.apply(page: page) }
            let size = (try? page.serializedBytes() as [UInt8])?.count ?? 0
            let now = tally.withLock { t in
              t.pages += 1
              t.pulled += page.changes.count
              t.reset = t.reset || page.reset
              t.bytes += size
              t.total = max(t.total, t.pulled + Int(page.remaining))
              return t
            }
            progress(SyncProgress(phase: .pulling, done: now.pulled, total: now.total, bytes: now.bytes))
          }
          return true
        }
        guard complete else { return false }
        break
      } catch let error as RPCError where error.code == .deadlineExceeded && tally.withLock({ $0.pages }) > pagesBefore
      {
        await client.dropConnection()  // a line that slowed to a stall may hold the old connection
        continue
      }
    }
    let outcome = tally.withLock { $0 }
    // The server's total is an estimate; at the end the count is exact.
    progress(SyncProgress(phase: .pulling, done: outcome.pulled, total: outcome.pulled, bytes: outcome.bytes))
    report.pulled += outcome.pulled
    report.pages += outcome.pages
    report.reset = report.reset || outcome.reset
    return true
  }

  static var nowMillis: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

  /// The server lost history this replica holds (restored from an older backup, files rolled
  /// back): set the server copy aside, offer every mutation it ever accepted from this device
  /// again, in order and with their original ids (those it still knows change nothing), then
  /// let the sync push the outbox and pull everything from the beginning. `finishHeal` then
  /// keeps aside whatever of the old copy the server still lacks. Each step can be
  /// interrupted; the next sync resumes it.
  func heal(_ report: inout SyncReport) async throws {
    try await replica.blocking { try $0.beginHeal() }
    report.healed = true
    var after: Int64 = 0
    while true {
      try Task.checkCancellation()
      let from = after
      let batch = try await replica.blocking { [pushBatch] in try $0.sentBatch(after: from, limit: pushBatch) }
      guard let last = batch.last else { break }
      var request = Orgsync_V1_PushRequest()
      request.mutations = batch.map(\.mutation)
      request.replay = true
      let response = try await client.unary(SyncAPI.push, request, options: CallOptions(timeout: timeout))
      guard !response.historyChanged, response.results.count == batch.count else {
        throw RPCError(code: .internal, message: "the server did not take the offered mutations")
      }
      let offered = request.mutations
      let outcome = try await replica.blocking {
        try $0.applyReplayResults(response.results, sent: offered, now: Self.nowMillis)
      }
      report.offeredAgain += outcome.accepted
      report.rejected += outcome.rejected
      after = last.seq
    }
  }

  func refreshConflicts(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws {
    progress(SyncProgress(phase: .conflicts, done: 0, total: 0, bytes: 0))
    // Tell the server about conflicts settled here whose resolving edit it has accepted.
    for pending in try await replica.blocking { try $0.pendingResolutions() } {
      var request = Orgsync_V1_ResolveConflictRequest()
      request.conflictID = Data(pending.conflict)
      request.resolvedByMutationID = Data(pending.mutation)
      do {
        let response = try await client.unary(SyncAPI.resolveConflict, request, options: CallOptions(timeout: timeout))
        try await replica.blocking { try $0.store(conflicts: [response.conflict]) }
      } catch let error as RPCError where error.code == .failedPrecondition || error.code == .notFound {
        continue  // its mutation was rejected or is still queued; it stays open here
      }
    }
    // The open conflicts came with the pull's last page.
    report.conflicts = try await replica.blocking { try $0.conflicts() }.count
  }

  func refetch(_ ids: [[UInt8]]) async throws {
    for start in stride(from: 0, to: ids.count, by: 1000) {
      var request = Orgsync_V1_FetchRequest()
      let slice = Array(ids[start..<min(ids.count, start + 1000)])
      request.ids = slice.map { Data($0) }
      let response = try await client.unary(SyncAPI.fetch, request, options: CallOptions(timeout: timeout))
      let found = Set(response.records.map(\.id))
      let live = response.records.filter { !$0.deleted }
      let gone =
        slice.filter { !found.contains(Data($0)) } + response.records.filter(\.deleted).map { [UInt8]($0.id) }
      try await replica.blocking { try $0.repair(upserting: live, removing: gone) }
    }
  }

  /// Compares the replica with the server's digest of the scope and repairs only what differs:
  /// per mismatched type, the server's ids and versions are compared with the local ones and
  /// just the missing or stale records are fetched, and extra ones dropped.
  public func verify(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> VerifyReport {
    let sync = try await self.sync(progress: progress)
    progress(SyncProgress(phase: .verifying, done: 0, total: 0, bytes: 0))
    let server = try await client.unary(
      SyncAPI.digest, Orgsync_V1_DigestRequest(), options: CallOptions(timeout: timeout))
    let local = try await replica.blocking { try $0.localDigest() }
    var report = VerifyReport()
    report.healed = sync.healed
    report.held = sync.held
    let serverTypes = Dictionary(server.types.map { ($0.type, $0) }, uniquingKeysWith: { a, _ in a })
    let types = Set(serverTypes.keys).union(local.keys).sorted { $0.rawValue < $1.rawValue }
    for type in types {
      let theirs = serverTypes[type]
      let mine = local[type]
      if theirs?.count == mine?.count, theirs?.hash == mine.map({ Data($0.hash) }) { continue }
      report.mismatchedTypes.append(type)
      var request = Orgsync_V1_VersionsRequest()
      request.type = type
      let remote = try await client.serverStreaming(SyncAPI.versions, request) { pages in
        var versions: [Data: Int64] = [:]
        for try await page in pages {
          for (id, version) in zip(page.ids, page.versions) { versions[id] = version }
        }
        return versions
      }
      let here = try await replica.blocking { try $0.serverVersions(type: type) }
      let stale = remote.filter { here[$0.key] != $0.value }.map { [UInt8]($0.key) }
      let extra = here.keys.filter { remote[$0] == nil }.map { [UInt8]($0) }
      if !stale.isEmpty { try await refetch(stale) }
      report.fetched += stale.count
      if !extra.isEmpty { try await settle(extra: extra, &report) }
    }
    return report
  }

  /// Records the server copy holds but the server lacks. Before anything is dropped, this
  /// device's own accepted edits of them are offered again; what the server then has is
  /// fetched; what it still lacks is kept aside (`held`), so nothing typed is deleted on the
  /// server's word alone. (A record that left the scope came with a scope exit in the pull.)
  func settle(extra: [[UInt8]], _ report: inout VerifyReport) async throws {
    let mine = try await replica.blocking { try $0.sentMutations(records: extra) }
    for start in stride(from: 0, to: mine.count, by: pushBatch) {
      var request = Orgsync_V1_PushRequest()
      request.mutations = Array(mine[start..<min(mine.count, start + pushBatch)])
      request.replay = true
      request.knownPositions = try await replica.blocking { try $0.knownPositions() }
      let response = try await client.unary(SyncAPI.push, request, options: CallOptions(timeout: timeout))
      guard !response.historyChanged, response.results.count == request.mutations.count else {
        throw RPCError(code: .internal, message: "the server did not take the offered mutations")
      }
      let offered = request.mutations
      let outcome = try await replica.blocking {
        try $0.applyReplayResults(response.results, sent: offered, now: Self.nowMillis)
      }
      report.offeredAgain += outcome.accepted
    }
    // Ask again: what came back is fetched; deleted or out of scope ones are removed.
    var request = Orgsync_V1_FetchRequest()
    var back: [Orgsync_V1_Record] = []
    for start in stride(from: 0, to: extra.count, by: 1000) {
      request.ids = extra[start..<min(extra.count, start + 1000)].map { Data($0) }
      back += try await client.unary(SyncAPI.fetch, request, options: CallOptions(timeout: timeout)).records
    }
    let returned = Set(back.map(\.id))
    let live = back.filter { !$0.deleted }
    let deleted = back.filter(\.deleted).map { [UInt8]($0.id) }
    try await replica.blocking { try $0.repair(upserting: live, removing: deleted) }
    let lacking = extra.filter { !returned.contains(Data($0)) }
    if !lacking.isEmpty { try await replica.blocking { try $0.hold(lacking, now: Self.nowMillis) } }
    report.removed += back.filter(\.deleted).count
    report.held += lacking.count
  }
}

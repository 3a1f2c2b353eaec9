import Foundation
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC

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
}

/// What verify found and repaired.
public struct VerifyReport: Sendable, Hashable {
  /// Types whose count or hash differed from the server's.
  public var mismatchedTypes: [Orgsync_V1_RecordType] = []
  /// Records fetched again (missing or out of date here).
  public var fetched = 0
  /// Records dropped (not in the scope on the server).
  public var removed = 0
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
      try await push(&report, progress: progress)
      try await pull(&report, progress: progress)
      try await refreshConflicts(&report, progress: progress)
    } catch let error as RPCError where error.code == .deadlineExceeded {
      await client.dropConnection()  // the link may be stalled: the next sync starts afresh
      throw error
    }
    try replica.markSynced(at: Int64(Date().timeIntervalSince1970 * 1000))
    progress(SyncProgress(phase: .done, done: report.pulled, total: report.pulled, bytes: 0))
    return report
  }

  func push(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws {
    let total = try replica.status().outbox
    var done = 0
    var conflicted: [[UInt8]] = []
    while true {
      try Task.checkCancellation()
      let batch = try replica.outboxBatch(limit: pushBatch)
      if batch.isEmpty { break }
      progress(SyncProgress(phase: .pushing, done: done, total: total, bytes: 0))
      var request = Orgsync_V1_PushRequest()
      request.mutations = batch
      let response = try await client.unary(SyncAPI.push, request, options: CallOptions(timeout: timeout))
      guard response.results.count == batch.count else {
        throw RPCError(code: .internal, message: "the server answered \(response.results.count) of \(batch.count)")
      }
      let applied = try replica.applyPushResults(
        response.results, sent: batch, now: Int64(Date().timeIntervalSince1970 * 1000))
      report.pushed += applied.accepted
      report.rejected += applied.rejected
      conflicted += applied.conflicted
      done += batch.count
    }
    // Where this device's edit lost a conflict, the record may not change on the server again:
    // fetch it now so the replica shows what the server kept.
    if !conflicted.isEmpty { try await refetch(conflicted) }
  }

  func pull(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws {
    var request = Orgsync_V1_PullRequest()
    request.cursor = Data(try replica.cursor())
    request.pageSize = UInt32(pageSize)
    let replica = self.replica
    let outcome = try await client.serverStreaming(
      SyncAPI.pull, request, options: CallOptions(timeout: timeout)
    ) { pages -> SyncReport in
      var local = SyncReport()
      var bytes = 0
      var total = 0
      for try await page in pages {
        try Task.checkCancellation()
        try replica.apply(page: page)
        local.pages += 1
        local.pulled += page.changes.count
        local.reset = local.reset || page.reset
        bytes += (try? page.serializedBytes() as [UInt8])?.count ?? 0
        total = max(total, local.pulled + Int(page.remaining))
        progress(SyncProgress(phase: .pulling, done: local.pulled, total: total, bytes: bytes))
      }
      // The server's total is an estimate; at the end the count is exact.
      progress(SyncProgress(phase: .pulling, done: local.pulled, total: local.pulled, bytes: bytes))
      return local
    }
    report.pulled += outcome.pulled
    report.pages += outcome.pages
    report.reset = report.reset || outcome.reset
  }

  func refreshConflicts(_ report: inout SyncReport, progress: @Sendable (SyncProgress) -> Void) async throws {
    progress(SyncProgress(phase: .conflicts, done: 0, total: 0, bytes: 0))
    // Tell the server about conflicts settled here whose resolving edit it has accepted.
    for pending in try replica.pendingResolutions() {
      var request = Orgsync_V1_ResolveConflictRequest()
      request.conflictID = Data(pending.conflict)
      request.resolvedByMutationID = Data(pending.mutation)
      do {
        let response = try await client.unary(SyncAPI.resolveConflict, request, options: CallOptions(timeout: timeout))
        try replica.store(conflicts: [response.conflict])
      } catch let error as RPCError where error.code == .failedPrecondition || error.code == .notFound {
        continue  // its mutation was rejected or is still queued; it stays open here
      }
    }
    // The open conflicts came with the pull's last page.
    report.conflicts = try replica.conflicts().count
  }

  func refetch(_ ids: [[UInt8]]) async throws {
    for start in stride(from: 0, to: ids.count, by: 1000) {
      var request = Orgsync_V1_FetchRequest()
      let slice = Array(ids[start..<min(ids.count, start + 1000)])
      request.ids = slice.map { Data($0) }
      let response = try await client.unary(SyncAPI.fetch, request, options: CallOptions(timeout: timeout))
      let found = Set(response.records.map(\.id))
      try replica.repair(
        upserting: response.records.filter { !$0.deleted },
        removing: slice.filter { !found.contains(Data($0)) } + response.records.filter(\.deleted).map { [UInt8]($0.id) }
      )
    }
  }

  /// Compares the replica with the server's digest of the scope and repairs only what differs:
  /// per mismatched type, the server's ids and versions are compared with the local ones and
  /// just the missing or stale records are fetched, and extra ones dropped.
  public func verify(progress: @Sendable (SyncProgress) -> Void = { _ in }) async throws -> VerifyReport {
    var sync = SyncReport()
    try await pull(&sync, progress: progress)
    progress(SyncProgress(phase: .verifying, done: 0, total: 0, bytes: 0))
    let server = try await client.unary(
      SyncAPI.digest, Orgsync_V1_DigestRequest(), options: CallOptions(timeout: timeout))
    let local = try replica.localDigest()
    var report = VerifyReport()
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
      let here = try replica.serverVersions(type: type)
      let stale = remote.filter { here[$0.key] != $0.value }.map { [UInt8]($0.key) }
      let extra = here.keys.filter { remote[$0] == nil }.map { [UInt8]($0) }
      if !stale.isEmpty { try await refetch(stale) }
      if !extra.isEmpty { try replica.repair(upserting: [], removing: extra) }
      report.fetched += stale.count
      report.removed += extra.count
    }
    return report
  }
}

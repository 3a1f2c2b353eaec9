import Foundation
import Logging
import Metrics
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncStore

extension StoreError: RPCErrorConvertible {
  public var rpcError: RPCError {
    let code: RPCError.Code =
      switch kind {
      case .unauthenticated: .unauthenticated
      case .notFound: .notFound
      case .invalidArgument: .invalidArgument
      case .permissionDenied: .permissionDenied
      case .failedPrecondition: .failedPrecondition
      }
    return RPCError(code: code, message: message)
  }
}

/// Push, pull, digest and conflicts over the RPC runtime. Every call names its device (from
/// the connection's hello) and is re-checked against revocation; scope is enforced by the
/// store on every record.
public struct SyncService: RPCService {
  let store: any ServerStore
  let logger: Logger
  /// Most mutations one push may carry.
  public static let maxBatch = 5000
  /// Largest page a pull serves.
  public static let maxPage = 2000
  /// The page a pull serves when the request names no size.
  public static let defaultPage = 500

  /// Certificate authorities (DER) announced to devices on the last page of every pull.
  let trustedAuthorities: [[UInt8]]

  public init(
    store: any ServerStore, logger: Logger = Logger(label: "orgsync.sync"), trustedAuthorities: [[UInt8]] = []
  ) {
    self.store = store
    self.logger = logger
    self.trustedAuthorities = trustedAuthorities
  }

  /// CPU work done for a device outside the store (redacting and encoding a page of thousands
  /// of records: milliseconds), run in the device's turn when the store takes turns, so a
  /// device pulling without pause occupies at most its share of the cores, not every core.
  func inTurn<T: Sendable>(_ actor: Actor, _ body: () throws -> T) async throws -> T {
    guard let fair = store as? FairShareStore else { return try body() }
    return try await fair.turn(actor.deviceID) { try body() }
  }

  func actor(_ context: ServerContext) async throws -> Actor {
    try await device(context).actor
  }

  func device(_ context: ServerContext) async throws -> DeviceInfo {
    guard let actor = context.peer.principal as? Actor,
      let device = try await store.device(id: actor.deviceID), device.revokedAt == nil
    else {
      throw RPCError(
        code: .unauthenticated,
        message: "this device is not enrolled or was revoked; re-enrol it with a new code (orgsync enroll --replace)")
    }
    return device
  }

  /// Notes a completed sync, at most once a minute per device (it costs a write) — every time
  /// while a new certificate authority is being announced, so that `orgsyncd tls switch` knows
  /// exactly which devices have heard of it.
  func noteSeen(_ device: DeviceInfo) async {
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    guard trustedAuthorities.count > 1 || now - (device.lastSeenAt ?? 0) > 60_000 else { return }
    do {
      try await store.noteSeen(deviceID: device.id, at: now)
    } catch {
      logger.warning("could not note a device's sync", metadata: ["error": "\(error)"])
    }
  }

  /// Changes a store read takes at most: a page is read in slices, each waiting for its own
  /// turn at the store, so another device's call waits behind at most one slice (docs/
  /// ARCHITECTURE.md, "Fair shares").
  static let storeSlice = 250

  /// One page of up to `size` changes, read in slices.
  func page(actor: Actor, cursor: [UInt8], size: Int) async throws -> Orgsync_V1_PullPage {
    var page = try await store.pull(actor: actor, cursor: cursor, pageSize: min(size, Self.storeSlice))
    while page.more, !page.historyChanged, page.changes.count < size {
      try Task.checkCancellation()
      let next = try await store.pull(
        actor: actor, cursor: Array(page.cursor), pageSize: min(size - page.changes.count, Self.storeSlice))
      // A slice that starts over (history changed, scope reshaped) is the next page's business.
      if next.historyChanged || next.reset { break }
      page.changes += next.changes
      page.cursor = next.cursor
      page.more = next.more
    }
    return page
  }

  public var methods: [ServerMethod] {
    [
      .unary(SyncAPI.push) { request, context in
        let actor = try await actor(context)
        guard request.mutations.count <= Self.maxBatch else {
          throw RPCError(code: .invalidArgument, message: "a push carries at most \(Self.maxBatch) mutations")
        }
        let outcome = try await store.push(
          request.mutations, actor: actor,
          options: PushOptions(knownPositions: request.knownPositions.map { Array($0) }, replay: request.replay))
        var response = Orgsync_V1_PushResponse()
        response.results = outcome.results
        response.position = Data(outcome.position)
        response.historyChanged = outcome.historyChanged
        let rejected = response.results.filter { $0.outcome == .rejected }.count
        Counter(label: "orgsync_push_mutations_total").increment(by: response.results.count)
        Counter(label: "orgsync_push_rejected_total").increment(by: rejected)
        logger.info(
          "push",
          metadata: [
            "device": "\(context.peer.logName)", "unit": "\(RecordID.short(actor.unitID))",
            "mutations": "\(request.mutations.count)", "rejected": "\(rejected)",
            "replay": "\(request.replay)", "history_changed": "\(outcome.historyChanged)",
          ])
        return response
      }.offEventLoop(),
      .serverStreaming(SyncAPI.pull) { request, writer, context in
        let device = try await device(context)
        let actor = device.actor
        // 0 (unset) is the default page, not a page of one.
        let pageSize = request.pageSize == 0 ? Self.defaultPage : Int(min(request.pageSize, UInt32(Self.maxPage)))
        var cursor = Array(request.cursor)
        var held = true
        for position in request.knownPositions where held {
          held = try await store.holds(position: Array(position))
        }
        guard held else {
          var page = Orgsync_V1_PullPage()
          page.historyChanged = true
          logger.info("pull: history changed", metadata: ["device": "\(context.peer.logName)"])
          try await writer.write(page)
          return
        }
        var remaining = try await store.pendingChanges(actor: actor, cursor: cursor)
        var served = ServedFields()
        defer { served.log(logger, device: context.peer.logName, method: "pull") }
        while true {
          try Task.checkCancellation()
          var page = try await self.page(actor: actor, cursor: cursor, size: pageSize)
          if page.historyChanged {
            logger.info("pull: history changed", metadata: ["device": "\(context.peer.logName)"])
            try await writer.write(page)
            return
          }
          remaining = max(0, remaining - page.changes.count)
          page.remaining = UInt64(page.more ? remaining : 0)
          if !page.more {
            // Open ones, and those settled in the last 30 days: the side that lost is told.
            let month = Int64(Date().timeIntervalSince1970 * 1000) - 30 * 86_400_000
            page.openConflicts = try await store.conflicts(
              actor: actor, includeResolved: false, limit: 1000, resolvedSince: month)
            page.conflictsIncluded = true
            page.trustedAuthorities = trustedAuthorities.map { Data($0) }
          }
          let (encoded, fields) = try await inTurn(actor) { [page] in
            var page = page
            var fields = ServedFields()
            for index in page.changes.indices where page.changes[index].kind == .upsert {
              PersonalData.redact(&page.changes[index].record, for: actor)
              fields.count(page.changes[index].record)
            }
            for index in page.openConflicts.indices { PersonalData.redact(&page.openConflicts[index], for: actor) }
            return (try EncodedMessage(page), fields)
          }
          served.add(fields)
          try await writer.write(encoded)
          Counter(label: "orgsync_pull_changes_total").increment(by: page.changes.count)
          cursor = Array(page.cursor)
          if !page.more { break }
        }
        await noteSeen(device)
      }.offEventLoop(),
      .unary(SyncAPI.digest) { request, context in
        try await store.digest(actor: try await actor(context), types: request.types)
      }.offEventLoop(),
      .unary(SyncAPI.conflicts) { request, context in
        let actor = try await actor(context)
        var response = Orgsync_V1_ConflictsResponse()
        response.conflicts = try await store.conflicts(
          actor: actor, includeResolved: request.includeResolved, limit: request.limit == 0 ? 1000 : Int(request.limit))
        for index in response.conflicts.indices { PersonalData.redact(&response.conflicts[index], for: actor) }
        return response
      }.offEventLoop(),
      .unary(SyncAPI.resolveConflict) { request, context in
        let actor = try await actor(context)
        var response = Orgsync_V1_ResolveConflictResponse()
        response.conflict = try await store.resolveConflict(
          actor: actor, id: Array(request.conflictID), byMutation: Array(request.resolvedByMutationID))
        PersonalData.redact(&response.conflict, for: actor)
        return response
      },
      .serverStreaming(SyncAPI.versions) { request, writer, context in
        let all = try await store.versions(actor: try await actor(context), type: request.type)
        for start in stride(from: 0, to: all.count, by: 5000) {
          var page = Orgsync_V1_VersionsPage()
          for item in all[start..<min(all.count, start + 5000)] {
            page.ids.append(.init(item.id))
            page.versions.append(item.version)
          }
          try await writer.write(page)
        }
      }.offEventLoop(),
      .unary(SyncAPI.fetch) { request, context in
        guard request.ids.count <= Self.maxPage else {
          throw RPCError(code: .invalidArgument, message: "fetch at most \(Self.maxPage) records at once")
        }
        let actor = try await actor(context)
        var response = Orgsync_V1_FetchResponse()
        response.records = try await store.records(ids: request.ids.map { Array($0) }, actor: actor)
        var served = ServedFields()
        for index in response.records.indices {
          PersonalData.redact(&response.records[index], for: actor)
          served.count(response.records[index])
        }
        served.log(logger, device: context.peer.logName, method: "fetch")
        return response
      }.offEventLoop(),
      .unary(SyncAPI.rollUp) { request, context in
        try await store.rollUp(actor: try await actor(context), request: request)
      }.offEventLoop(),
      .unary(SyncAPI.history) { request, context in
        guard request.recordID.count == 16 else {
          throw RPCError(code: .invalidArgument, message: "a record id is 16 bytes")
        }
        var response = Orgsync_V1_HistoryResponse()
        response.entries = try await store.history(recordID: Array(request.recordID), actor: try await actor(context))
        return response
      },
      .unary(SyncAPI.whoAmI) { _, context in
        let actor = try await actor(context)
        var response = Orgsync_V1_WhoAmIResponse()
        response.deviceID = .init(actor.deviceID)
        response.unitID = .init(actor.unitID)
        response.role = actor.role
        if let unit = try await store.unitName(id: actor.unitID) {
          response.unitName = unit.name
          response.unitCode = unit.code
        }
        return response
      },
    ]
  }
}

/// Enrolment: a one-time code for a device identity.
public struct EnrollmentService: RPCService {
  let store: any ServerStore
  let logger: Logger

  public init(store: any ServerStore, logger: Logger = Logger(label: "orgsync.enrollment")) {
    self.store = store
    self.logger = logger
  }

  public var methods: [ServerMethod] {
    [
      .unary(EnrollmentAPI.enroll, allowsAnonymous: true) { request, _ in
        let response: Orgsync_V1_EnrollResponse
        do {
          response = try await store.enroll(code: request.code, deviceName: request.deviceName)
        } catch let error as StoreError where error.kind == .unauthenticated {
          Counter(label: "orgsync_enroll_refused_total").increment()
          logger.notice("enrolment refused: unknown, used or expired code")
          throw error
        }
        logger.info(
          "device enrolled",
          metadata: [
            "device": "\(RecordID.short(Array(response.deviceID)))",
            "unit": "\(RecordID.short(Array(response.unitID)))",
          ])
        return response
      }
    ]
  }
}

/// Which personal fields a call sent, counted by name — the trail of who received whose data,
/// without the data: "device 3f2a9c1b pulled member.phone ×120".
struct ServedFields: Sendable {
  private var counts: [String: Int] = [:]

  mutating func add(_ other: ServedFields) {
    counts.merge(other.counts, uniquingKeysWith: +)
  }

  mutating func count(_ record: Orgsync_V1_Record) {
    for field in PersonalData.served(record) { counts[field, default: 0] += 1 }
  }

  func log(_ logger: Logger, device: String, method: String) {
    guard !counts.isEmpty else { return }
    let fields = counts.keys.sorted().map { "\($0)×\(counts[$0]!)" }.joined(separator: " ")
    logger.info(
      "personal fields served", metadata: ["device": "\(device)", "method": "\(method)", "fields": "\(fields)"])
  }
}

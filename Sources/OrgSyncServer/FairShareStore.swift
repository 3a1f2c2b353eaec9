import Foundation
import NIOCore
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Synchronization

/// Runs store work a few operations at a time, taking turns between devices: when a slot
/// frees, the next device in line gets it, however many operations another device has queued.
/// One device's hundred pulls then delay another device's call by about one operation, not by
/// a hundred (docs/ARCHITECTURE.md, "Fair shares").
///
/// Written here rather than taken from a library: what is needed is a counting semaphore with
/// round-robin between keys and cancellable waiting, a few dozen lines, and none of the
/// mirror's packages offers it.
public final class FairScheduler: Sendable {
  private struct Waiter {
    let id: UInt64
    let continuation: CheckedContinuation<Void, any Error>
  }

  private struct State {
    var running = 0
    var runningByKey: [String: Int] = [:]
    var queues: [String: CircularBuffer<Waiter>] = [:]
    /// Keys with waiting work, in turn order.
    var turns = CircularBuffer<String>()
    var nextID: UInt64 = 0
    /// Heavy keys resting until then (see `release`).
    var restUntil: [String: ContinuousClock.Instant] = [:]
    /// When each key last started or finished an operation (recent ones only).
    var lastActive: [String: ContinuousClock.Instant] = [:]
    var wakeScheduled = false
  }

  /// How recently another key must have worked for a heavy key to rest between operations.
  static let othersActiveWindow: Duration = .milliseconds(100)

  /// Operations that run at once (SQLite work is CPU-bound: about the number of cores).
  public let capacity: Int
  /// Operations of one key that run at once: one fewer than `capacity` (at least one), so one
  /// device can never hold every slot — another device's operation starts at once rather than
  /// after one of its operations.
  public let perKey: Int
  private let state = Mutex(State())

  public init(capacity: Int = max(2, ProcessInfo.processInfo.activeProcessorCount)) {
    self.capacity = capacity
    self.perKey = max(1, capacity - 1)
  }

  /// Runs `body` when `key`'s turn comes.
  public func run<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
    try await acquire(key)
    let started = ContinuousClock.now
    defer { release(key, spent: ContinuousClock.now - started) }
    return try await body()
  }

  /// Operations waiting (for metrics and tests).
  public var waiting: Int { state.withLock { $0.queues.values.reduce(0) { $0 + $1.count } } }

  private func acquire(_ key: String) async throws {
    let id: UInt64? = state.withLock { state in
      // Free slots can only be held back from keys at their own limit, so taking one jumps no
      // one; a key with work queued already waits behind it.
      let now = ContinuousClock.now
      state.lastActive[key] = now
      if state.running < capacity, state.runningByKey[key, default: 0] < perKey, state.queues[key] == nil,
        (state.restUntil[key] ?? now) <= now
      {
        state.running += 1
        state.runningByKey[key, default: 0] += 1
        return nil
      }
      state.nextID += 1
      return state.nextID
    }
    guard let id else { return }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let (cancelled, ready, wake) = state.withLock { state -> (Bool, [Waiter], ContinuousClock.Instant?) in
          if Task.isCancelled { return (true, [], nil) }
          if state.queues[key] == nil { state.turns.append(key) }
          state.queues[key, default: []].append(Waiter(id: id, continuation: continuation))
          // A free slot held back only by this key's rest: look again when the rest ends.
          let (ready, wake) = dispatch(&state, now: ContinuousClock.now)
          return (false, ready, wake)
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        for waiter in ready { waiter.continuation.resume() }
        if let wake { scheduleWake(at: wake) }
      }
    } onCancel: {
      let waiter: Waiter? = state.withLock { state in
        guard var queue = state.queues[key], let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        let waiter = queue.remove(at: index)
        if queue.isEmpty {
          state.queues[key] = nil
          if let turn = state.turns.firstIndex(of: key) { state.turns.remove(at: turn) }
        } else {
          state.queues[key] = queue
        }
        return waiter
      }
      waiter?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Frees `key`'s slot and gives free slots to the first keys in turn order that may run.
  ///
  /// A heavy key — one with more operations waiting — that just worked while another key was
  /// active rests for as long as its operation took: it then uses at most about half a core
  /// while others work, not a whole one, and a small call from another device finds the cores
  /// nearly free. Alone, it never rests.
  private func release(_ key: String, spent: Duration) {
    let (ready, wake): ([Waiter], ContinuousClock.Instant?) = state.withLock { state in
      state.running -= 1
      let left = state.runningByKey[key, default: 1] - 1
      state.runningByKey[key] = left > 0 ? left : nil
      let now = ContinuousClock.now
      state.lastActive[key] = now
      let othersActive = state.lastActive.contains { $0.key != key && now - $0.value < Self.othersActiveWindow }
      if state.queues[key] != nil, othersActive {
        state.restUntil[key] = now + spent
      }
      if state.lastActive.count > 1024 {
        state.lastActive = state.lastActive.filter { now - $0.value < Self.othersActiveWindow }
      }
      return dispatch(&state, now: now)
    }
    for waiter in ready { waiter.continuation.resume() }
    if let wake { scheduleWake(at: wake) }
  }

  /// Starts waiting operations while slots are free; returns them, and when to look again
  /// if a resting key was passed over.
  private func dispatch(_ state: inout State, now: ContinuousClock.Instant) -> ([Waiter], ContinuousClock.Instant?) {
    var ready: [Waiter] = []
    var wake: ContinuousClock.Instant?
    while state.running < capacity {
      guard
        let index = state.turns.firstIndex(where: { turn in
          guard state.runningByKey[turn, default: 0] < perKey else { return false }
          if let until = state.restUntil[turn], until > now {
            wake = min(wake ?? until, until)
            return false
          }
          return true
        })
      else { break }
      let turn = state.turns.remove(at: index)
      state.restUntil[turn] = nil
      guard var queue = state.queues[turn], let waiter = queue.popFirst() else { continue }
      if queue.isEmpty {
        state.queues[turn] = nil
      } else {
        state.queues[turn] = queue
        state.turns.append(turn)  // to the back of the line
      }
      state.running += 1
      state.runningByKey[turn, default: 0] += 1
      ready.append(waiter)
    }
    if wake != nil, state.wakeScheduled { wake = nil } else if wake != nil { state.wakeScheduled = true }
    return (ready, wake)
  }

  /// Looks again when a resting key's rest ends (nothing else may release a slot before).
  private func scheduleWake(at instant: ContinuousClock.Instant) {
    Task {
      try? await Task.sleep(until: instant, clock: .continuous)
      let (ready, wake) = state.withLock { state in
        state.wakeScheduled = false
        return dispatch(&state, now: ContinuousClock.now)
      }
      for waiter in ready { waiter.continuation.resume() }
      if let wake { scheduleWake(at: wake) }
    }
  }
}

/// A `ServerStore` whose operations over a device's scope (pulls, pushes, digests, roll-ups,
/// fetches) wait for the device's turn on a `FairScheduler`, so no device can occupy all of
/// the store's work.
public struct FairShareStore: ServerStore {
  public let base: any ServerStore
  public let scheduler: FairScheduler

  public init(_ base: any ServerStore, scheduler: FairScheduler = FairScheduler()) {
    self.base = base
    self.scheduler = scheduler
  }

  /// Runs `body` in the device's turn: store work, or CPU work done for the device on the
  /// side (building and encoding its pages), so both count against the same share. Never call
  /// the store from within `body`: a device holds at most its share of slots, and would wait
  /// for itself.
  public func turn<T: Sendable>(_ key: [UInt8], _ body: () async throws -> T) async throws -> T {
    try await scheduler.run(key.isEmpty ? "local" : RecordID.string(key), body)
  }

  public func importUnits(_ units: [(id: [UInt8], unit: Orgsync_V1_OrgUnit)]) async throws
    -> [Orgsync_V1_MutationResult]
  {
    try await base.importUnits(units)
  }
  public func makeEnrollmentCode(unitID: [UInt8], role: Orgsync_V1_DeviceRole, validSeconds: Int64) async throws
    -> String
  {
    try await base.makeEnrollmentCode(unitID: unitID, role: role, validSeconds: validSeconds)
  }
  public func enroll(code: String, deviceName: String) async throws -> Orgsync_V1_EnrollResponse {
    try await turn([]) { try await base.enroll(code: code, deviceName: deviceName) }
  }
  // Lookups by key (a device, a unit's name, noting a sync) cost microseconds whatever the
  // scope: they do not wait for a turn behind another device's page read.
  public func device(id: [UInt8]) async throws -> DeviceInfo? { try await base.device(id: id) }
  public func devices() async throws -> [DeviceInfo] { try await base.devices() }
  public func revokeDevice(id: [UInt8]) async throws { try await base.revokeDevice(id: id) }
  public func noteSeen(deviceID: [UInt8], at millis: Int64) async throws {
    try await base.noteSeen(deviceID: deviceID, at: millis)
  }
  public func unitName(id: [UInt8]) async throws -> (name: String, code: String)? {
    try await base.unitName(id: id)
  }
  public func push(_ mutations: [Orgsync_V1_Mutation], actor: Actor, options: PushOptions) async throws -> PushOutcome {
    try await turn(actor.deviceID) { try await base.push(mutations, actor: actor, options: options) }
  }
  public func holds(position: [UInt8]) async throws -> Bool { try await base.holds(position: position) }
  public func pull(actor: Actor, cursor: [UInt8], pageSize: Int) async throws -> Orgsync_V1_PullPage {
    try await turn(actor.deviceID) { try await base.pull(actor: actor, cursor: cursor, pageSize: pageSize) }
  }
  public func pendingChanges(actor: Actor, cursor: [UInt8]) async throws -> Int {
    try await turn(actor.deviceID) { try await base.pendingChanges(actor: actor, cursor: cursor) }
  }
  public func rollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp {
    try await turn(actor.deviceID) { try await base.rollUp(actor: actor, request: request) }
  }
  public func digest(actor: Actor, types: [Orgsync_V1_RecordType]) async throws -> Orgsync_V1_ScopeDigest {
    try await turn(actor.deviceID) { try await base.digest(actor: actor, types: types) }
  }
  public func conflicts(actor: Actor, includeResolved: Bool, limit: Int, resolvedSince: Int64?) async throws
    -> [Orgsync_V1_Conflict]
  {
    try await turn(actor.deviceID) {
      try await base.conflicts(
        actor: actor, includeResolved: includeResolved, limit: limit, resolvedSince: resolvedSince)
    }
  }
  public func resolveConflict(actor: Actor, id: [UInt8], byMutation: [UInt8]) async throws -> Orgsync_V1_Conflict {
    try await turn(actor.deviceID) { try await base.resolveConflict(actor: actor, id: id, byMutation: byMutation) }
  }
  public func audit(recordID: [UInt8]) async throws -> [AuditEntry] { try await base.audit(recordID: recordID) }
  public func record(id: [UInt8], actor: Actor) async throws -> Orgsync_V1_Record? {
    try await turn(actor.deviceID) { try await base.record(id: id, actor: actor) }
  }
  public func records(ids: [[UInt8]], actor: Actor) async throws -> [Orgsync_V1_Record] {
    try await turn(actor.deviceID) { try await base.records(ids: ids, actor: actor) }
  }
  public func history(recordID: [UInt8], actor: Actor) async throws -> [Orgsync_V1_HistoryEntry] {
    try await turn(actor.deviceID) { try await base.history(recordID: recordID, actor: actor) }
  }
  public func versions(actor: Actor, type: Orgsync_V1_RecordType) async throws -> [(id: [UInt8], version: Int64)] {
    let pairs = try await turn(actor.deviceID) {
      try await base.versions(actor: actor, type: type).map { VersionPair(id: $0.id, version: $0.version) }
    }
    return pairs.map { ($0.id, $0.version) }
  }
}

private struct VersionPair: Sendable {
  var id: [UInt8]
  var version: Int64
}

import Metrics
import NIOCore
import Synchronization

/// How much of the server one peer may take (docs/PROTOCOL.md §6.2). A peer is a device once
/// its hello is accepted, and an address before that (and for anonymous enrolment calls).
public struct PeerPolicy: Hashable, Sendable {
  /// Connections that have not finished their hello, in all; beyond it the oldest unproven
  /// connection of the most crowded address is closed (a new one is never refused).
  public var maxUnauthenticated = 1024
  /// …and from one address, beyond which that address's oldest is closed. A township's PCs
  /// behind one NAT address share it.
  public var maxUnauthenticatedPerAddress = 256
  /// Connections one device may hold; a newer one closes its oldest (a device that reconnects
  /// after a cut link wins over its own half-open leftovers).
  public var maxConnectionsPerDevice = 4
  /// Calls of one peer running at once across all its connections; later ones wait their turn
  /// (they are not refused). Bounds what one peer can make the server produce and hold.
  public var maxRunningCallsPerPeer = 8
  /// Connections one device may open (hellos accepted) in a burst, and the pace at which that
  /// allowance comes back: a PC reconnects a few times an hour; one that reconnects in a loop
  /// — broken, or fighting its own connection cap — is slowed instead of churning the server.
  public var helloBurstPerDevice = 10
  public var helloRefillInterval: Duration = .seconds(6)
  /// Request bytes one connection may have waiting for handlers (calls queued behind the
  /// running ones hold theirs); a message beyond it fails its call with RESOURCE_EXHAUSTED.
  public var maxHeldRequestBytes = 8 << 20
  /// Failed proofs or enrolment codes forgiven before attempts are spaced out, per device and
  /// per address for enrolment codes.
  public var freeFailures = 3
  /// Failed proofs from one address (for any devices) forgiven before that address's hellos
  /// are spaced out too: higher, because many offices may share one address.
  public var freeAddressFailures = 30
  /// Spacing after the free failures: doubles with each failure, up to `maxFailureDelay`.
  public var failureDelay: Duration = .milliseconds(250)
  public var maxFailureDelay: Duration = .seconds(10)
  /// A key with no failure for this long starts afresh.
  public var failureMemory: Duration = .seconds(600)

  public init() {}

  public static let defaults = PeerPolicy()
}

/// Server-wide bookkeeping that keeps one peer from crowding out the others: connection caps,
/// a per-peer limit on running calls (the excess waits, first come first served), and spacing
/// of repeated failed guesses. Thread-safe; the connection handlers call it from their loops.
final class PeerGuard: Sendable {
  private struct Failures {
    var count = 0
    var last: ContinuousClock.Instant
    /// The earliest time the next attempt may run: attempts are spaced, not merely delayed,
    /// so parallel connections gain nothing.
    var nextAttempt: ContinuousClock.Instant
  }

  private struct Waiter {
    let id: UInt64
    let continuation: CheckedContinuation<Void, any Error>
  }

  /// A connection that has not finished its hello: where from, and how to close it.
  private struct Unproven {
    let address: String
    let order: UInt64
    let close: @Sendable () -> Void
    /// It has sent something (a TLS ClientHello, a preface): a PC starting its handshake, not
    /// a socket left silent.
    var spoke = false
  }

  private struct State {
    var unproven: [ObjectIdentifier: Unproven] = [:]
    /// Per address, its unproven connections oldest first.
    var unprovenByAddress: [String: CircularBuffer<(order: UInt64, id: ObjectIdentifier)>] = [:]
    var nextOrder: UInt64 = 0
    /// Per device, its connections oldest first, each with a way to close it.
    var connections: [[UInt8]: [(id: ObjectIdentifier, close: @Sendable () -> Void)]] = [:]
    var running: [String: Int] = [:]
    var waiting: [String: CircularBuffer<Waiter>] = [:]
    var nextWaiterID: UInt64 = 0
    var failures: [String: Failures] = [:]
    /// Per device: hellos left, and when that count was last topped up.
    var helloAllowance: [[UInt8]: (left: Int, at: ContinuousClock.Instant)] = [:]
    /// When a hello was last accepted: the listener's proof of life for operators.
    var lastHello: ContinuousClock.Instant?
  }

  let policy: PeerPolicy
  private let state = Mutex(State())

  init(policy: PeerPolicy) {
    self.policy = policy
  }

  // MARK: Connections

  /// Admits a new connection that has yet to prove itself. Never refuses it: when the caps are
  /// reached, the oldest unproven connection of the address holding the most is closed instead
  /// (of this address, when this address is at its own cap) — the oldest that has not sent a
  /// byte yet, when there is one — so a flood of connections that never say hello cannot keep
  /// anyone else out: it only shortens its own connections' lives, and a PC that has begun its
  /// handshake outlives them. Proven connections never count here.
  func admit(connection: ObjectIdentifier, address: String, close: @escaping @Sendable () -> Void) {
    let evicted: [@Sendable () -> Void] = state.withLock { state in
      var evicted: [@Sendable () -> Void] = []
      // The oldest connection of `address` that has sent nothing yet goes first; only when
      // every one of them has spoken, the oldest of all.
      func evictOldest(of address: String) {
        guard var list = state.unprovenByAddress[address], !list.isEmpty else { return }
        let index = list.firstIndex { state.unproven[$0.id]?.spoke == false } ?? list.startIndex
        let oldest = list.remove(at: index)
        state.unprovenByAddress[address] = list.isEmpty ? nil : list
        if let entry = state.unproven.removeValue(forKey: oldest.id) { evicted.append(entry.close) }
      }
      if state.unprovenByAddress[address, default: []].count >= policy.maxUnauthenticatedPerAddress {
        evictOldest(of: address)
      }
      if state.unproven.count >= policy.maxUnauthenticated,
        let crowded = state.unprovenByAddress.max(by: { $0.value.count < $1.value.count })?.key
      {
        evictOldest(of: crowded)
      }
      state.nextOrder += 1
      state.unproven[connection] = Unproven(address: address, order: state.nextOrder, close: close)
      state.unprovenByAddress[address, default: []].append((state.nextOrder, connection))
      return evicted
    }
    for close in evicted {
      Counter(label: "orgsync_unproven_closed_total").increment()
      close()
    }
  }

  /// The connection sent its first bytes.
  func spoke(connection: ObjectIdentifier) {
    state.withLock { $0.unproven[connection]?.spoke = true }
  }

  /// The connection finished its hello (or closed before it did).
  func leftHello(connection: ObjectIdentifier) {
    state.withLock { state in
      guard let entry = state.unproven.removeValue(forKey: connection) else { return }
      guard var list = state.unprovenByAddress[entry.address] else { return }
      if let index = list.firstIndex(where: { $0.id == connection }) { list.remove(at: index) }
      state.unprovenByAddress[entry.address] = list.isEmpty ? nil : list
    }
  }

  /// Unproven connections now, in all and from `address`.
  func unprovenCount(address: String? = nil) -> Int {
    state.withLock { state in
      address.map { state.unprovenByAddress[$0]?.count ?? 0 } ?? state.unproven.count
    }
  }

  /// A hello was accepted (a device proved itself, or an enrolment began).
  func noteHelloAccepted(now: ContinuousClock.Instant = .now) {
    state.withLock { $0.lastHello = now }
  }

  var lastHello: ContinuousClock.Instant? { state.withLock { $0.lastHello } }

  /// Takes one of the device's hellos; false when it has used them all (try again shortly).
  /// Counted only after the proof was checked, so no one can spend another device's allowance.
  func takeHello(device: [UInt8], now: ContinuousClock.Instant = .now) -> Bool {
    state.withLock { state in
      if state.helloAllowance.count > 100_000 { state.helloAllowance = [:] }
      var entry = state.helloAllowance[device] ?? (policy.helloBurstPerDevice, now)
      let refilled = Int((now - entry.at) / policy.helloRefillInterval)
      if refilled > 0 {
        entry.left = min(policy.helloBurstPerDevice, entry.left + refilled)
        entry.at = entry.at + policy.helloRefillInterval * refilled
      }
      guard entry.left > 0 else {
        state.helloAllowance[device] = entry
        return false
      }
      if entry.left == policy.helloBurstPerDevice { entry.at = now }
      entry.left -= 1
      state.helloAllowance[device] = entry
      return true
    }
  }

  /// Lists a device's new connection; closes its oldest ones beyond the cap.
  func attach(device: [UInt8], connection: ObjectIdentifier, close: @escaping @Sendable () -> Void) {
    let excess = state.withLock { state in
      var list = state.connections[device, default: []]
      list.append((connection, close))
      let excess =
        list.count > policy.maxConnectionsPerDevice ? list.prefix(list.count - policy.maxConnectionsPerDevice) : []
      list.removeFirst(excess.count)
      state.connections[device] = list
      return Array(excess)
    }
    for connection in excess {
      Counter(label: "orgsync_connections_replaced_total").increment()
      connection.close()
    }
  }

  func detach(device: [UInt8], connection: ObjectIdentifier) {
    state.withLock { state in
      guard var list = state.connections[device] else { return }
      list.removeAll { $0.id == connection }
      state.connections[device] = list.isEmpty ? nil : list
    }
  }

  // MARK: Running calls

  /// Waits until `peer` has a free call slot (first come, first served), then takes it. Throws
  /// `CancellationError` if the waiting task is cancelled (the call ended meanwhile).
  func startCall(peer: String) async throws {
    let id: UInt64? = state.withLock { state in
      if state.running[peer, default: 0] < policy.maxRunningCallsPerPeer {
        state.running[peer, default: 0] += 1
        return nil
      }
      state.nextWaiterID += 1
      return state.nextWaiterID
    }
    guard let id else { return }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let cancelled = state.withLock { state in
          if Task.isCancelled { return true }
          state.waiting[peer, default: []].append(Waiter(id: id, continuation: continuation))
          return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
      }
    } onCancel: {
      let waiter: Waiter? = state.withLock { state in
        guard let index = state.waiting[peer]?.firstIndex(where: { $0.id == id }) else { return nil }
        return state.waiting[peer]?.remove(at: index)
      }
      waiter?.continuation.resume(throwing: CancellationError())
    }
  }

  /// Calls of `peer` waiting for a slot.
  func waitingCalls(peer: String) -> Int {
    state.withLock { $0.waiting[peer]?.count ?? 0 }
  }

  /// Gives the slot back: to the peer's next waiting call, if any.
  func endCall(peer: String) {
    let next: Waiter? = state.withLock { state in
      if let next = state.waiting[peer]?.popFirst() {
        if state.waiting[peer]?.isEmpty == true { state.waiting[peer] = nil }
        return next  // the slot passes on: `running` stays as it is
      }
      let left = state.running[peer, default: 1] - 1
      state.running[peer] = left > 0 ? left : nil
      return nil
    }
    next?.continuation.resume()
  }

  // MARK: Failed guesses

  /// A key under which failures count, with how many are forgiven.
  struct GuessKey: Hashable {
    var key: String
    var free: Int
  }

  /// How long the next attempt under `keys` must wait, reserving its place so that attempts
  /// in parallel are spaced one after another; nil when the queue of attempts already reaches
  /// further than `maxFailureDelay` twice over (refuse at once, reserve nothing).
  func delayBeforeAttempt(keys: [GuessKey]) -> Duration? {
    let now = ContinuousClock.now
    return state.withLock { state in
      var starts: [(String, ContinuousClock.Instant, Failures)] = []
      for guess in keys {
        guard let failures = state.failures[guess.key] else { continue }
        if now - failures.last > policy.failureMemory {
          state.failures[guess.key] = nil
          continue
        }
        guard failures.count >= guess.free else { continue }
        let start = max(now, failures.nextAttempt)
        if start - now > policy.maxFailureDelay * 2 { return nil }
        starts.append((guess.key, start, failures))
      }
      var delay = Duration.zero
      for (key, start, failures) in starts {
        var failures = failures
        failures.nextAttempt = start + spacing(after: failures.count)
        state.failures[key] = failures
        delay = max(delay, start - now)
      }
      return delay
    }
  }

  /// A proof or code was wrong.
  func noteFailure(keys: [GuessKey]) {
    let now = ContinuousClock.now
    state.withLock { state in
      if state.failures.count > 100_000 {
        state.failures = state.failures.filter { now - $0.value.last < policy.failureMemory }
      }
      for key in keys.map(\.key) {
        var failures = state.failures[key] ?? Failures(last: now, nextAttempt: now)
        if now - failures.last > policy.failureMemory { failures.count = 0 }
        failures.count += 1
        failures.last = now
        state.failures[key] = failures
      }
    }
  }

  /// A device proved itself: its own failures are forgotten (its address's are not).
  func noteSuccess(key: String) {
    _ = state.withLock { $0.failures.removeValue(forKey: key) }
  }

  private func spacing(after failures: Int) -> Duration {
    let doublings = min(max(failures - policy.freeFailures, 0), 20)
    return min(policy.failureDelay * (1 << doublings), policy.maxFailureDelay)
  }

  /// Keys for a hello: its device from its address, and (with more forgiveness) its address.
  /// Never the device alone: guesses from elsewhere must not slow the owner at its own address.
  func helloKeys(deviceID: [UInt8], address: SocketAddress?) -> [GuessKey] {
    var keys = [GuessKey(key: "hello-" + Self.addressKey(address), free: policy.freeAddressFailures)]
    if !deviceID.isEmpty {
      keys.append(GuessKey(key: Self.deviceKey(deviceID, from: address), free: policy.freeFailures))
    }
    return keys
  }

  /// Keys for an anonymous call (an enrolment code): its address.
  func callKeys(address: SocketAddress?) -> [GuessKey] {
    [GuessKey(key: Self.addressKey(address), free: policy.freeFailures)]
  }

  static func addressKey(_ address: SocketAddress?) -> String {
    "address:" + (address?.ipAddress ?? "unknown")
  }

  /// A device's wrong proofs are counted per address it tries from.
  static func deviceKey(_ deviceID: [UInt8], from address: SocketAddress?) -> String {
    deviceKey(deviceID) + "@" + (address?.ipAddress ?? "unknown")
  }

  static func deviceKey(_ deviceID: [UInt8]) -> String {
    "device:" + deviceID.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
  }
}

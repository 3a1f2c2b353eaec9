import Foundation
import NIOCore
import Testing

@testable import OrgSyncRPC

@Suite("One peer cannot crowd out the rest")
struct PeerGuardTests {
  let device = PeerGuard.deviceKey([1, 2, 3, 4], from: nil)

  @Test("wrong proofs: the first few are free, then attempts are spaced, doubling, and parallel ones queue")
  func spacing() {
    let peerGuard = PeerGuard(policy: .defaults)
    let keys = peerGuard.helloKeys(deviceID: [1, 2, 3, 4], address: nil)
    for _ in 0..<3 {
      #expect(peerGuard.delayBeforeAttempt(keys: keys) == .zero)
      peerGuard.noteFailure(keys: keys)
    }
    // Three attempts at once after three failures: each waits behind the one before.
    let delays = (0..<3).map { _ in peerGuard.delayBeforeAttempt(keys: keys)! }
    #expect(delays[0] < .milliseconds(50))
    #expect(delays[1] > .milliseconds(200) && delays[1] <= .milliseconds(250))
    #expect(delays[2] > .milliseconds(450) && delays[2] <= .milliseconds(500))
    // More failures double the spacing, up to the cap; then a long queue is refused outright.
    for _ in 0..<10 { peerGuard.noteFailure(keys: keys) }
    var refused = false
    for _ in 0..<10 where !refused { refused = peerGuard.delayBeforeAttempt(keys: keys) == nil }
    #expect(refused, "a queue of attempts longer than twice the cap is refused, not waited for")
  }

  @Test("a device that proves itself starts afresh; other devices from its address are not slowed by it")
  func successForgives() {
    let peerGuard = PeerGuard(policy: .defaults)
    let keys = peerGuard.helloKeys(deviceID: [1, 2, 3, 4], address: nil)
    for _ in 0..<6 { peerGuard.noteFailure(keys: keys) }
    let other = peerGuard.helloKeys(deviceID: [9, 9, 9, 9], address: nil)
    #expect(peerGuard.delayBeforeAttempt(keys: other) == .zero, "six failures are far below the address's allowance")
    #expect(peerGuard.delayBeforeAttempt(keys: keys)! >= .zero)
    peerGuard.noteSuccess(key: device)
    #expect(peerGuard.delayBeforeAttempt(keys: keys) == .zero)
  }

  @Test(
    "beyond an address's cap, the oldest connection that has sent nothing is closed, never one that began its handshake"
  )
  func evictsSilentFirst() {
    var policy = PeerPolicy.defaults
    policy.maxUnauthenticatedPerAddress = 3
    let peerGuard = PeerGuard(policy: policy)
    final class Closed: @unchecked Sendable { var names: [String] = [] }
    let closed = Closed()
    let objects = (0..<5).map { _ in NSObject() }
    func admit(_ i: Int) {
      peerGuard.admit(connection: ObjectIdentifier(objects[i]), address: "address:10.0.0.1") {
        closed.names.append("c\(i)")
      }
    }
    admit(0)  // a PC: its TLS ClientHello is on its way
    peerGuard.spoke(connection: ObjectIdentifier(objects[0]))
    admit(1)
    admit(2)  // silent
    admit(3)  // at the cap: the oldest silent one (1) makes room, not the PC (0)
    #expect(closed.names == ["c1"])
    admit(4)
    #expect(closed.names == ["c1", "c2"])
    #expect(peerGuard.unprovenCount(address: "address:10.0.0.1") == 3)
  }

  @Test("a device may reconnect 10 times at once, then once every 6 seconds")
  func helloBudget() {
    let peerGuard = PeerGuard(policy: .defaults)
    let start = ContinuousClock.now
    for _ in 0..<10 { #expect(peerGuard.takeHello(device: [1], now: start)) }
    #expect(!peerGuard.takeHello(device: [1], now: start), "the burst is used up")
    #expect(peerGuard.takeHello(device: [2], now: start), "another device is not affected")
    #expect(!peerGuard.takeHello(device: [1], now: start + .seconds(5)))
    #expect(peerGuard.takeHello(device: [1], now: start + .seconds(6)))
    #expect(!peerGuard.takeHello(device: [1], now: start + .seconds(7)))
    // After a quiet spell the whole burst is back.
    for _ in 0..<10 { #expect(peerGuard.takeHello(device: [1], now: start + .seconds(600))) }
  }

  @Test("a peer's calls beyond its running limit wait their turn and start in order; a waiter can give up")
  func runningCalls() async throws {
    var policy = PeerPolicy()
    policy.maxRunningCallsPerPeer = 2
    let peerGuard = PeerGuard(policy: policy)
    try await peerGuard.startCall(peer: "a")
    try await peerGuard.startCall(peer: "a")
    // Another peer is not held up by "a".
    try await peerGuard.startCall(peer: "b")
    let order = OrderLog()
    let third = Task {
      try await peerGuard.startCall(peer: "a")
      await order.add("third")
    }
    #expect(await eventually { peerGuard.waitingCalls(peer: "a") == 1 })
    let fourth = Task {
      try await peerGuard.startCall(peer: "a")
      await order.add("fourth")
    }
    #expect(await eventually { peerGuard.waitingCalls(peer: "a") == 2 })
    let quitter = Task { try await peerGuard.startCall(peer: "a") }
    #expect(await eventually { peerGuard.waitingCalls(peer: "a") == 3 })
    quitter.cancel()
    await #expect(throws: CancellationError.self) { try await quitter.value }
    #expect(peerGuard.waitingCalls(peer: "a") == 2)
    #expect(await order.entries.isEmpty, "both wait while two calls run")
    peerGuard.endCall(peer: "a")
    try await third.value
    #expect(await order.entries == ["third"])
    peerGuard.endCall(peer: "a")
    try await fourth.value
    #expect(await order.entries == ["third", "fourth"])
  }
}

actor OrderLog {
  var entries: [String] = []
  func add(_ entry: String) { entries.append(entry) }
}

import OrgSyncServer
import Synchronization
import Testing

@Suite("Devices take turns at the store")
struct FairSchedulerTests {
  @Test("a device with one operation goes next, not behind another device's queue of five")
  func roundRobin() async throws {
    let scheduler = FairScheduler(capacity: 1)
    let order = RunLog()
    let gate = AsyncStream<Void>.makeStream()
    // "busy" holds the only slot until the gate opens.
    let entered = AsyncStream<Void>.makeStream()
    let holder = Task {
      try await scheduler.run("busy") {
        entered.continuation.yield()
        for await _ in gate.stream { break }
      }
    }
    for await _ in entered.stream { break }
    var tasks: [Task<Void, any Error>] = []
    for i in 0..<5 {
      tasks.append(Task { try await scheduler.run("busy") { order.add("busy\(i)") } })
      while scheduler.waiting < i + 1 { await Task.yield() }
    }
    tasks.append(Task { try await scheduler.run("quiet") { order.add("quiet") } })
    while scheduler.waiting < 6 { await Task.yield() }
    gate.continuation.yield()
    try await holder.value
    for task in tasks { try await task.value }
    let ran = order.entries.withLock { $0 }
    #expect(ran.count == 6)
    #expect(
      ran.firstIndex(of: "quiet")! <= 1, "the quiet device waited for at most one of the busy one's operations: \(ran)")
  }

  @Test("one device never holds every slot: with two, its second operation waits and another device's starts at once")
  func slotLeftForOthers() async throws {
    let scheduler = FairScheduler(capacity: 2)
    let gate = AsyncStream<Void>.makeStream()
    let entered = AsyncStream<Void>.makeStream()
    let holder = Task {
      try await scheduler.run("busy") {
        entered.continuation.yield()
        for await _ in gate.stream { break }
      }
    }
    for await _ in entered.stream { break }
    let second = Task { try await scheduler.run("busy") { "busy" } }
    while scheduler.waiting < 1 { await Task.yield() }
    // The free slot goes to another device without waiting.
    #expect(try await scheduler.run("quiet") { "quiet" } == "quiet")
    #expect(scheduler.waiting == 1, "the busy device's second operation still waits")
    gate.continuation.yield()
    try await holder.value
    #expect(try await second.value == "busy")
  }

  @Test("a waiting operation that is cancelled leaves the line and takes no slot")
  func cancelled() async throws {
    let scheduler = FairScheduler(capacity: 1)
    let gate = AsyncStream<Void>.makeStream()
    let entered = AsyncStream<Void>.makeStream()
    let holder = Task {
      try await scheduler.run("a") {
        entered.continuation.yield()
        for await _ in gate.stream { break }
      }
    }
    for await _ in entered.stream { break }
    let waiter = Task { try await scheduler.run("b") { 1 } }
    while scheduler.waiting < 1 { await Task.yield() }
    waiter.cancel()
    await #expect(throws: CancellationError.self) { try await waiter.value }
    #expect(scheduler.waiting == 0)
    gate.continuation.yield()
    try await holder.value
    #expect(try await scheduler.run("c") { 2 } == 2, "the slot came back")
  }
}

final class RunLog: Sendable {
  let entries = Mutex<[String]>([])
  func add(_ entry: String) { entries.withLock { $0.append(entry) } }
}

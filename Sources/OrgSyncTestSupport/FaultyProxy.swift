import NIOCore
import NIOPosix
import OrgSyncCore
import Synchronization

/// A TCP proxy on 127.0.0.1 that damages the link between a client and a server, the way a
/// village office's line does: it cuts a connection at a random byte, delays chunks, flips a
/// byte, or stalls. Decisions come from a seeded generator, so a failing run can be replayed.
public final class FaultyProxy: Sendable {
  /// What may happen to each new connection (one fault at most per connection).
  public struct Faults: Sendable, Hashable {
    /// Chance that the connection is cut after a random number of bytes (either direction).
    public var cut: Double = 0
    /// Chance that one byte at a random offset is flipped.
    public var corrupt: Double = 0
    /// Chance that the connection stops forwarding after a random number of bytes, for good.
    public var stall: Double = 0
    /// Extra delay per forwarded chunk.
    public var delay: Duration = .zero
    /// Bytes into the connection at which a fault strikes: uniformly below this.
    public var within: Int = 4096
    /// Link shaping: bytes per second in each direction (0: as fast as the machine goes), and
    /// one-way latency. A slow village line is e.g. 8,000 bytes/s (64 kbit/s) and 300 ms.
    public var bandwidth: Int = 0
    public var latency: Duration = .zero

    public init(
      cut: Double = 0, corrupt: Double = 0, stall: Double = 0, delay: Duration = .zero, within: Int = 4096,
      bandwidth: Int = 0, latency: Duration = .zero
    ) {
      self.cut = cut
      self.corrupt = corrupt
      self.stall = stall
      self.delay = delay
      self.within = within
      self.bandwidth = bandwidth
      self.latency = latency
    }

    public static let none = Faults()
  }

  enum Plan: Sendable {
    case clean
    case cut(at: Int)
    case corrupt(at: Int)
    case stall(at: Int)
  }

  private struct State {
    var faults: Faults
    var rng: SeededGenerator
    var serverChannel: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var faultsInjected = 0
  }

  private let upstreamPort: Int
  private let group: any EventLoopGroup
  private let state: Mutex<State>

  public init(upstreamPort: Int, seed: UInt64, faults: Faults = .none) {
    self.upstreamPort = upstreamPort
    self.group = MultiThreadedEventLoopGroup.singleton
    self.state = Mutex(State(faults: faults, rng: SeededGenerator(seed: seed)))
  }

  public var faults: Faults {
    get { state.withLock { $0.faults } }
    set { state.withLock { $0.faults = newValue } }
  }

  /// How many connections were damaged so far.
  public var faultsInjected: Int { state.withLock { $0.faultsInjected } }

  /// Bytes carried from the server to its clients so far (what a metered line would bill).
  public var bytesToClients: Int { toClients.value.load(ordering: .relaxed) }
  let toClients = ByteCounter()

  /// Starts listening; returns the proxy's port.
  public func start(port: Int = 0) async throws -> Int {
    let channel = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.autoRead, value: false)
      .childChannelInitializer { [self] inbound in
        self.accept(inbound)
      }
      .bind(host: "127.0.0.1", port: port).get()
    state.withLock { $0.serverChannel = channel }
    return channel.localAddress!.port!
  }

  /// Stops listening and closes every proxied connection.
  public func stop() async {
    let (server, connections) = state.withLock { ($0.serverChannel, Array($0.connections.values)) }
    try? await server?.close()
    for connection in connections { try? await connection.close() }
  }

  private func plan() -> (Plan, Faults) {
    state.withLock { state in
      let f = state.faults
      let roll = Double.random(in: 0..<1, using: &state.rng)
      let at = Int.random(in: 0..<max(1, f.within), using: &state.rng)
      let plan: Plan
      if roll < f.cut {
        plan = .cut(at: at)
      } else if roll < f.cut + f.corrupt {
        plan = .corrupt(at: at)
      } else if roll < f.cut + f.corrupt + f.stall {
        plan = .stall(at: at)
      } else {
        plan = .clean
      }
      if case .clean = plan {} else { state.faultsInjected += 1 }
      return (plan, f)
    }
  }

  private func accept(_ inbound: any Channel) -> EventLoopFuture<Void> {
    let (plan, faults) = self.plan()
    let budget = ByteBudget(plan: plan)
    let inboundID = ObjectIdentifier(inbound)
    state.withLock { $0.connections[inboundID] = inbound }
    inbound.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.connections.removeValue(forKey: inboundID) }
    }
    return ClientBootstrap(group: inbound.eventLoop)
      .channelOption(.autoRead, value: false)
      .connect(host: "127.0.0.1", port: upstreamPort)
      .flatMap { outbound in
        let toServer = Relay(partner: outbound, budget: budget, faults: faults)
        let toClient = Relay(partner: inbound, budget: budget, faults: faults, counter: self.toClients)
        return inbound.pipeline.addHandler(toServer).flatMap {
          outbound.pipeline.addHandler(toClient)
        }
      }
      .flatMapError { _ in inbound.close() }
  }
}

/// Bytes both directions of one connection have used, and the fault that waits for them.
final class ByteBudget: @unchecked Sendable {
  let plan: FaultyProxy.Plan
  var used = 0  // touched only on the connection's event loop (both channels share it)

  init(plan: FaultyProxy.Plan) { self.plan = plan }
}

/// Forwards what one side reads to the other, applying the connection's fault.
final class Relay: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  let partner: any Channel
  let budget: ByteBudget
  let delay: Duration
  let bandwidth: Int
  let latency: TimeAmount
  var stalled = false
  let counter: ByteCounter?
  /// When the shaped line is free to send the next byte (this direction).
  var lineFree = NIODeadline.now()

  init(partner: any Channel, budget: ByteBudget, faults: FaultyProxy.Faults, counter: ByteCounter? = nil) {
    self.counter = counter
    self.partner = partner
    self.budget = budget
    self.delay = faults.delay
    self.bandwidth = faults.bandwidth
    self.latency = .nanoseconds(
      Int64(faults.latency.components.seconds) * 1_000_000_000 + faults.latency.components.attoseconds / 1_000_000_000)
  }

  // autoRead is off (so nothing is read before both sides exist): ask for the first read once
  // the channel is active, and for the next after each chunk.
  func handlerAdded(context: ChannelHandlerContext) {
    if context.channel.isActive { context.read() }
  }

  func channelActive(context: ChannelHandlerContext) {
    context.read()
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    counter?.value.add(buffer.readableBytes, ordering: .relaxed)
    let start = budget.used
    budget.used += buffer.readableBytes
    switch budget.plan {
    case .clean:
      break
    case .cut(let at) where budget.used > at:
      let keep = max(0, at - start)
      if keep > 0, let head = buffer.readSlice(length: keep) { forward(head) }
      partner.close(promise: nil)
      context.close(promise: nil)
      return
    case .corrupt(let at) where start <= at && at < budget.used:
      let index = buffer.readerIndex + (at - start)
      let byte = buffer.getInteger(at: index, as: UInt8.self)!
      buffer.setInteger(byte ^ 0x5A, at: index)
    case .stall(let at) where budget.used > at:
      stalled = true  // from here on nothing passes; the peers' deadlines end it
    default:
      break
    }
    if stalled {
      context.read()
    } else if bandwidth > 0 {
      shape(buffer, context: context)
    } else {
      forward(buffer)
      context.read()
    }
  }

  /// Sends the chunk in slices at the line's rate, each arriving `latency` after it left, and
  /// reads on only when the line is free again (so the sender feels the slow line, as over TCP).
  private func shape(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
    var buffer = buffer
    let partner = self.partner
    while buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(1_400, buffer.readableBytes)) {
      lineFree = max(lineFree, .now()) + .nanoseconds(Int64(slice.readableBytes) * 1_000_000_000 / Int64(bandwidth))
      partner.eventLoop.scheduleTask(deadline: lineFree + latency) { partner.writeAndFlush(slice, promise: nil) }
    }
    context.eventLoop.scheduleTask(deadline: lineFree) { context.read() }
  }

  private func forward(_ buffer: ByteBuffer) {
    if delay == .zero {
      partner.writeAndFlush(buffer, promise: nil)
    } else {
      let partner = self.partner
      partner.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.attoseconds / 1_000_000_000))) {
        partner.writeAndFlush(buffer, promise: nil)
      }
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    partner.close(promise: nil)
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}

/// A count shared by the relays of every connection.
final class ByteCounter: Sendable {
  let value = Atomic<Int>(0)
}

/// The proxy's and the randomized tests' generator.
public typealias SeededGenerator = SplitMix64

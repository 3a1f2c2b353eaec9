import Foundation
import NIOCore
import NIOPosix
import OrgSyncAPI
import OrgSyncProto
import OrgSyncRPC
import OrgSyncServer
import OrgSyncStore
import Prometheus
import Synchronization
import Testing

/// The server as one process: a part it needs either serves or ends it; background work never
/// stops or stalls serving; `/health` says what a device would meet.
@Suite("Server process", .timeLimit(.minutes(5)))
struct ServerProcessTests {
  @Test("a background job that throws and one that hangs: devices still sync, /health says ok and names both")
  func backgroundJobsNeverStopServing() async throws {
    let county = try await County()
    let shared = FairShareStore(county.store)
    let server = RPCServer(
      configuration: .init(authenticator: DeviceAuthenticator(store: shared)),
      services: [SyncService(store: shared), EnrollmentService(store: shared)])
    let adminPort = try await reservedPort()
    let runs = Tally()
    let failing = BackgroundJob(name: "failing", firstDelay: .zero, interval: .milliseconds(50)) {
      runs.add()
      throw TestFailure(message: "the disk said no")
    }
    // Ignores cancellation on purpose: stopping must not wait for it.
    let hanging = BackgroundJob(name: "hanging", firstDelay: .zero, interval: .seconds(1)) {
      while true { try? await Task.sleep(for: .seconds(3600)) }
    }
    let admin = ServerProcess.Admin(
      host: "127.0.0.1", port: adminPort, registry: PrometheusCollectorRegistry(),
      storeHealth: { await county.store.health(minFreeBytes: 0) })
    let process = Task {
      try await ServerProcess.run(
        server: server, admin: admin, jobs: [failing, hanging], grace: .seconds(5), watchdog: nil,
        logger: .init(label: "test"))
    }
    let port = try await server.localAddress().port!
    // The failing job has run and failed a few times by the time the device is done.
    let (client, _) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
    var push = Orgsync_V1_PushRequest()
    push.mutations = [create(member("屈原"), unit: county.taiping)]
    #expect(try await client.unary(SyncAPI.push, push).results.map(\.outcome) == [.applied])
    await client.close()
    while runs.count < 2 { try await Task.sleep(for: .milliseconds(20)) }

    let health = try await httpGet(port: adminPort, path: "/health")
    #expect(health.hasPrefix("HTTP/1.1 200"), "\(health)")
    #expect(health.contains("\nok\n"), "\(health)")
    #expect(health.contains("sync listener: accepting on"), "\(health)")
    #expect(health.contains("last device hello"), "\(health)")
    #expect(health.contains("background failing: ") && health.contains("FAILED"), "\(health)")
    #expect(health.contains("the disk said no"), "\(health)")
    #expect(health.contains("background hanging: running for"), "\(health)")

    // Stopping returns although the hanging job never does.
    process.cancel()
    try? await process.value
    #expect(server.status.phase == .stopped)
    #expect(try await httpGetOnce(port: adminPort, path: "/health") == nil, "the admin port closed with the process")
  }

  @Test("the sync port in use: run ends with the reason, the admin port closes, /health never said ok")
  func portInUse() async throws {
    let county = try await County()
    let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .bind(host: "127.0.0.1", port: 0).get()
    let taken = holder.localAddress!.port!
    let server = RPCServer(
      configuration: .init(port: taken, authenticator: DeviceAuthenticator(store: FairShareStore(county.store))),
      services: [])
    let adminPort = try await reservedPort()
    let admin = ServerProcess.Admin(
      host: "127.0.0.1", port: adminPort, registry: PrometheusCollectorRegistry(),
      storeHealth: { await county.store.health(minFreeBytes: 0) })
    let ran = jobRecorder()
    await #expect(throws: ServerProcess.StartFailure.self) {
      do {
        try await ServerProcess.run(
          server: server, admin: admin, jobs: [ran.job], grace: .seconds(5), watchdog: nil,
          logger: .init(label: "test"))
      } catch let failure as ServerProcess.StartFailure {
        #expect(failure.message.contains("in use"), "\(failure.message)")
        #expect(failure.message.contains("\(taken)"), "\(failure.message)")
        throw failure
      }
    }
    if case .failed(let reason) = server.status.phase {
      #expect(reason.contains("in use"))
    } else {
      Issue.record("the listener's status is \(server.status.phase), not failed")
    }
    #expect(ran.count() == 0, "no background job starts when the listener never came up")
    #expect(try await httpGetOnce(port: adminPort, path: "/health") == nil)
    try await holder.close()
  }

  @Test(
    "/health stays ok while silent connections fill every unfinished-hello place (a newcomer still gets in); it fails while the listener stops"
  )
  func healthUnderFloodAndWhileStopping() async throws {
    var configuration = RPCServer.Configuration()
    configuration.peerPolicy.maxUnauthenticated = 4
    configuration.limits.helloTimeout = .seconds(3600)  // only the cap may close them here
    let server = RPCServer(configuration: configuration, services: [])
    let running = Task { try await server.run() }
    let port = try await server.localAddress().port!
    #expect(await ServerProcess.probe(server).0, "accepting while nothing crowds it")
    // Four connections that never say hello take every unfinished-hello place.
    var silent: [any Channel] = []
    for _ in 0..<4 {
      silent.append(
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
          .connect(host: "127.0.0.1", port: port).get())
    }
    while server.status.accepted < 5 { try await Task.sleep(for: .milliseconds(10)) }
    let (ok, line) = await ServerProcess.probe(server)
    #expect(ok, "the oldest silent one made room: \(line)")
    server.beginGracefulShutdown()
    let (stoppingOK, stoppingLine) = await ServerProcess.probe(server)
    #expect(!stoppingOK)
    #expect(stoppingLine.hasPrefix("sync listener: NOT serving"), "\(stoppingLine)")
    for channel in silent { try? await channel.close() }
    try await running.value
  }

  @Test("/health fails while the listener is not serving, with the listener's state")
  func healthNamesTheListener() async throws {
    let county = try await County()
    let server = RPCServer(configuration: .init(), services: [])
    let (ok, line) = await ServerProcess.probe(server)
    #expect(!ok)
    #expect(line == "sync listener: NOT serving (starting)")
    _ = county
  }
}

struct TestFailure: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// A job that only counts its runs.
func jobRecorder() -> (job: BackgroundJob, count: @Sendable () -> Int) {
  let runs = Tally()
  let job = BackgroundJob(name: "recorder", firstDelay: .zero, interval: .seconds(3600)) { runs.add() }
  return (job, { runs.count })
}

final class Tally: Sendable {
  private let value = Mutex(0)
  func add() { value.withLock { $0 += 1 } }
  var count: Int { value.withLock { $0 } }
}

/// A port free now on 127.0.0.1 (bound, read and closed).
func reservedPort() async throws -> Int {
  let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .bind(host: "127.0.0.1", port: 0).get()
  let port = channel.localAddress!.port!
  try await channel.close()
  return port
}

/// GET over plain HTTP/1.1, retried while nothing listens yet (the admin port opens beside the
/// sync port, a moment later).
func httpGet(port: Int, path: String) async throws -> String {
  while true {
    if let answer = try await httpGetOnce(port: port, path: path) { return answer }
    try await Task.sleep(for: .milliseconds(50))
  }
}

/// One GET; nil when nothing listens on the port.
func httpGetOnce(port: Int, path: String) async throws -> String? {
  let answer = Collect()
  let channel: any Channel
  do {
    channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(answer) }
      }
      .connect(host: "127.0.0.1", port: port).get()
  } catch {
    return nil
  }
  let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
  try await channel.writeAndFlush(ByteBuffer(string: request))
  try await channel.closeFuture.get()
  return String(decoding: answer.bytes.withLock { $0 }, as: UTF8.self)
}

private final class Collect: ChannelInboundHandler, Sendable {
  typealias InboundIn = ByteBuffer
  let bytes = Mutex<[UInt8]>([])
  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    bytes.withLock { $0 += buffer.readableBytesView }
  }
}

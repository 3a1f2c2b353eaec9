import Foundation
import Hummingbird
import OrgSyncClient
import OrgSyncRPC
import Synchronization

/// The sync the office started from the web app: it runs on its own (the page that started it
/// may be closed), and the progress page reads where it is.
final class SyncActivity: Sendable {
  struct State: Sendable {
    var running = false
    var phase: SyncProgress.Phase?
    var done = 0
    var total = 0
    /// The last sync's outcome, for the page that follows it.
    var outcome: String?
  }

  let state = Mutex(State())

  /// Starts a sync unless one is running; false when one already was.
  func start(_ work: @escaping @Sendable (@escaping @Sendable (SyncProgress) -> Void) async -> String) -> Bool {
    let started = state.withLock { state in
      guard !state.running else { return false }
      state = State(running: true)
      return true
    }
    guard started else { return false }
    Task.detached {
      let outcome = await work { progress in
        self.state.withLock { state in
          state.phase = progress.phase
          state.done = progress.done
          state.total = progress.total
        }
      }
      self.state.withLock { state in
        state.running = false
        state.outcome = outcome
      }
    }
    return true
  }
}

extension WebApp {
  /// Starts a sync in the background and shows its progress page.
  func startSync(_ request: Request) async throws -> Response {
    guard try await checked(request) != nil else { return forbidden }
    _ = syncActivity.start { progress in await runSync(progress: progress) }
    return Response.redirect(to: "/sync", type: .normal)
  }

  /// Where the sync is (the page reloads itself each second), or, once done, its outcome.
  func syncProgress() async throws -> Response {
    let state = syncActivity.state.withLock { $0 }
    guard state.running else {
      return redirect("/", message: state.outcome ?? "现在没有正在进行的同步。")
    }
    let phase: String =
      switch state.phase {
      case .pushing: "正在上传本机的修改"
      case .pulling: "正在接收服务器上的更新"
      case .conflicts: "正在核对冲突"
      case .verifying: "正在核对数据"
      case .done: "即将完成"
      case nil: "正在连接服务器"
      }
    var page: [String: Any] = ["phase": phase]
    if state.total > 0 {
      page["done"] = state.done
      page["total"] = state.total
    } else if state.done > 0 {
      page["count"] = state.done
    }
    return try await html("syncing", page, title: "正在同步", refresh: true)
  }

  /// One sync through the same engine as `orgsync sync`; its outcome in the office's words.
  func runSync(progress: @escaping @Sendable (SyncProgress) -> Void) async -> String {
    do {
      guard let client = try makeClient() else { throw RPCError(code: .unavailable, message: "no server") }
      defer { Task { await client.close() } }
      var engine = SyncEngine(replica: replica, client: client)
      let report = try await engine.sync(progress: progress)
      return "同步完成：上传 \(report.pushed) 条，收到 \(report.pulled) 条"
        + (report.rejected > 0 ? "，\(report.rejected) 条被退回（见“被退回”）" : "")
        + (report.conflicts > 0 ? "，\(report.conflicts) 个冲突待处理" : "")
    } catch let error as RPCError where error.isUntrustedServer {
      return "服务器出示的证书不是县里的证书机构签发的，这可能不是县里的服务器：请告诉县委组织部。录入的内容都保存在本机。"
    } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
      return "现在连不上服务器。录入的内容都保存在本机，联网后再点“立即同步”。"
    } catch {
      return "同步没有完成（\(error)）。录入的内容都保存在本机。"
    }
  }
}

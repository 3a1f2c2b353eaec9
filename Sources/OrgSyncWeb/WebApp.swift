import Crypto
import Foundation
import Hummingbird
import Logging
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import Synchronization

/// The office's web app, served by `orgsync ui` from the PC's own replica: forms for every
/// record type, lists, the conflict inbox, refused edits, a sync button and, for a committee,
/// the roll-up dashboard. It reads and writes through the same `Replica` and `SyncEngine` as
/// the command line, so it works with the link down and nothing typed has a second path.
///
/// Local only: it listens on loopback, and every request must carry the secret made at start
/// (given once in the printed address, then kept in a same-site, HTTP-only cookie); the Host
/// header must name this address (no DNS-rebinding page can reach it), a form's Origin must be
/// this address, and every form carries a token derived from the secret (CSRF).
public struct WebApp: Sendable {
  let replica: Replica
  let identity: Replica.Identity
  /// Makes a client to the server for a sync (nil: no server to reach).
  let makeClient: @Sendable () throws -> RPCClient?
  let secret: [UInt8]
  let timeZone: TimeZone
  let syncActivity = SyncActivity()
  /// The 三会一课 standard the dashboard holds branches to.
  let lifeStandard: LifeStandard

  public init(
    replica: Replica, identity: Replica.Identity, timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!,
    lifeStandard: LifeStandard = .standard, makeClient: @escaping @Sendable () throws -> RPCClient?
  ) {
    self.replica = replica
    self.lifeStandard = lifeStandard
    self.identity = identity
    self.makeClient = makeClient
    self.timeZone = timeZone
    var generator = SystemRandomNumberGenerator()
    secret = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
  }

  var token: String { secret.map { String(format: "%02x", $0) }.joined() }
  /// The value every form must send back: an HMAC of the secret, so a page elsewhere cannot know it.
  var csrf: String {
    let mac = HMAC<SHA256>.authenticationCode(for: Array("csrf".utf8), using: SymmetricKey(data: secret))
    return Data(mac).map { String(format: "%02x", $0) }.joined()
  }

  /// Serves until the task is cancelled; `ready` gets the address to open (with the secret).
  public func run(port: Int = 0, ready: @escaping @Sendable (String) -> Void) async throws {
    let bound = PortBox()
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: LocalGuard(app: self, port: bound))
    routes(router)
    let app = Application(
      router: router,
      configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil),
      onServerRunning: { channel in
        let port = channel.localAddress?.port ?? 0
        bound.set(port)
        ready("http://127.0.0.1:\(port)/login?t=\(token)")
      },
      logger: {
        var logger = Logger(label: "orgsync.ui")
        logger.logLevel = .warning  // no line per request: the office's window stays readable
        return logger
      }())
    try await app.run()
  }

  // MARK: Helpers shared by the pages

  func html(
    _ template: String, _ object: [String: Any], title: String, flash: String? = nil, refresh: Bool = false
  ) async throws
    -> Response
  {
    let status = try await replica.blocking { try $0.status() }
    var page = object
    page["csrf"] = csrf
    let body = Templates.render(template, page)
    // Mustache counts an empty string as present: what is absent is left out.
    var layout: [String: Any] = [
      "title": title, "unitName": identity.unitName, "body": body,
      "nav": Self.navTypes(for: identity.role).map {
        ["type": RecordPresentation.word(for: $0), "label": Labels.type($0)]
      },
      "committee": identity.role != .branch,
    ]
    if let flash, !flash.isEmpty { layout["flash"] = flash }
    if refresh { layout["refresh"] = true }
    if status.openConflicts > 0 { layout["openConflicts"] = status.openConflicts }
    if status.rejected > 0 { layout["refused"] = status.rejected }
    return Self.response(Templates.render("layout", layout))
  }

  static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(
      status: status,
      headers: [
        .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
      ],
      body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
  }

  /// The record types a unit's office works with, in the order its work comes.
  static func navTypes(for role: Orgsync_V1_DeviceRole) -> [Orgsync_V1_RecordType] {
    [
      .member, .meeting, .lecture, .opinion, .problem, .commitment, .report, .liaisonPoint, .serviceCase, .transfer,
      .duesPayment, .assessment, .noticeReceipt,
    ]
      + (role == .branch ? [] : [.inspection, .notice, .supportItem])
  }

  /// A time in the office's zone, e.g. 2026-11-27 14:05.
  func localTime(_ millis: Int64?) -> String {
    guard let millis else { return "从未" }
    let formatter = DateFormatter()
    formatter.timeZone = timeZone
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
  }

  /// Today in the office's zone (a village's day ends at midnight in China, not in UTC).
  var today: Orgsync_V1_Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let parts = calendar.dateComponents([.year, .month, .day], from: Date())
    return CalendarDate.make(parts.year ?? 2026, parts.month ?? 1, parts.day ?? 1)
  }

  /// The fields of a form post (application/x-www-form-urlencoded); a repeated name (a list
  /// picked from a multiple select) joins its values with commas.
  static func form(_ request: Request) async throws -> [String: String] {
    let buffer = try await request.body.collect(upTo: 4 << 20)
    guard let pairs = decodeForm(Array(buffer.readableBytesView)) else {
      throw PageError(status: .badRequest, message: "表单内容无法读取（编码不对），什么也没有保存。请返回后重新填写。")
    }
    var values: [String: String] = [:]
    for (name, value) in pairs {
      if let existing = values[name], !existing.isEmpty, !value.isEmpty {
        values[name] = existing + "," + value
      } else if values[name]?.isEmpty ?? true {
        values[name] = value
      }
    }
    return values
  }

  /// An application/x-www-form-urlencoded body as name–value pairs, as browsers send it: ASCII,
  /// with everything else percent-encoded. Nil when it is not one (raw bytes outside ASCII, a
  /// bad escape, or escapes that do not decode to UTF-8). Decoded here rather than with
  /// URLComponents, which traps on a body that is not percent-encoded.
  static func decodeForm(_ bytes: [UInt8]) -> [(String, String)]? {
    func decode(_ part: ArraySlice<UInt8>) -> String? {
      var out: [UInt8] = []
      out.reserveCapacity(part.count)
      var i = part.startIndex
      while i < part.endIndex {
        let byte = part[i]
        if byte == UInt8(ascii: "+") {
          out.append(UInt8(ascii: " "))
        } else if byte == UInt8(ascii: "%") {
          guard i + 2 < part.endIndex, let high = hex(part[i + 1]), let low = hex(part[i + 2]) else { return nil }
          out.append(high << 4 | low)
          i += 2
        } else {
          guard byte >= 0x20, byte < 0x7F else { return nil }
          out.append(byte)
        }
        i += 1
      }
      return String(validating: out, as: UTF8.self)
    }
    func hex(_ byte: UInt8) -> UInt8? {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
      default: nil
      }
    }
    var pairs: [(String, String)] = []
    for part in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
      let equals = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
      guard let name = decode(part[part.startIndex..<equals]),
        let value = decode(equals < part.endIndex ? part[(equals + 1)...] : [])
      else { return nil }
      pairs.append((name, value))
    }
    return pairs
  }
}

/// A request the app refuses, answered with a page in Chinese (not Hummingbird's JSON error).
struct PageError: HTTPResponseError {
  let status: HTTPResponse.Status
  let message: String

  func response(from request: Request, context: some RequestContext) throws -> Response {
    WebApp.response(
      "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>出错了</title><p>\(message)</p>"
        + "<p><a href=\"/\">返回首页</a></p></html>", status: status)
  }
}

/// The port the server is bound to, known once it runs.
final class PortBox: Sendable {
  private let value = Atomic(0)
  func set(_ port: Int) { value.store(port, ordering: .relaxed) }
  var port: Int { value.load(ordering: .relaxed) }
}

/// Lets in only this PC's own browser, holding the secret (see `WebApp`).
struct LocalGuard: RouterMiddleware {
  typealias Context = BasicRequestContext
  let app: WebApp
  let port: PortBox

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
    -> Response
  {
    let hosts = ["127.0.0.1:\(port.port)", "localhost:\(port.port)"]
    guard let host = request.head.authority, hosts.contains(host) else {
      return WebApp.response("请用启动时显示的地址打开。", status: .forbidden)
    }
    if request.uri.path == "/login" {
      guard let given = request.uri.queryParameters.get("t"), Self.same(given, app.token) else {
        return WebApp.response("地址不完整或已过期：请重新运行 orgsync ui。", status: .forbidden)
      }
      var response = Response.redirect(to: "/", type: .normal)
      response.setCookie(Cookie(name: "orgsync", value: app.token, path: "/", httpOnly: true, sameSite: .strict))
      return response
    }
    guard let cookie = request.cookies["orgsync"]?.value, Self.same(cookie, app.token) else {
      return WebApp.response("请用启动时显示的地址打开（orgsync ui 会打印它）。", status: .forbidden)
    }
    if request.method == .post {
      if let origin = request.headers[.origin], !hosts.map({ "http://" + $0 }).contains(origin) {
        return WebApp.response("拒绝来自其他网页的提交。", status: .forbidden)
      }
    }
    return try await next(request, context)
  }

  /// Compares in time independent of where they differ.
  static func same(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
  }
}

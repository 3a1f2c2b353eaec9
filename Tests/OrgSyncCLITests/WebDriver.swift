import Foundation
import Testing

/// A real browser (Debian's chromium, headless) driven over WebDriver's HTTP protocol through
/// chromedriver, as a secretary would use the web app: typing, choosing, clicking.
final class Browser: @unchecked Sendable {
  let driver: Process
  let base: URL
  var session = ""

  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  init() async throws {
    let port = try freePort()
    driver = Process()
    driver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
    driver.arguments = ["--port=\(port)"]
    driver.standardOutput = FileHandle.nullDevice
    driver.standardError = FileHandle.nullDevice
    try driver.run()
    base = URL(string: "http://127.0.0.1:\(port)")!
    // Waits for the driver to listen (no fixed deadline on the outcome: a busy machine is slow).
    for _ in 0..<600 {
      if (try? await request("GET", "/status")) != nil { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    let capabilities: [String: Any] = [
      "capabilities": [
        "alwaysMatch": [
          "browserName": "chrome",
          "goog:chromeOptions": [
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,768", "--lang=zh-CN"],
          ],
        ]
      ]
    ]
    let created = try await request("POST", "/session", capabilities)
    guard let value = created["value"] as? [String: Any], let id = value["sessionId"] as? String else {
      throw Failure(description: "chromedriver made no session: \(created)")
    }
    session = id
  }

  func close() async {
    _ = try? await request("DELETE", "/session/\(session)")
    kill(driver.processIdentifier, SIGKILL)  // chromedriver may linger on SIGTERM
    driver.waitUntilExit()
  }

  /// One WebDriver command, sent with curl (FoundationNetworking's URLSession fails on some of
  /// chromedriver's replies with "Failed writing header").
  @discardableResult
  func request(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
    var arguments = ["-s", "--max-time", "600", "-X", method, base.absoluteString + path]
    if let body {
      let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
      arguments += ["-H", "Content-Type: application/json", "--data-binary", json]
    }
    let reply = try await Tool.runBlockingAsync("/usr/bin/curl", arguments)
    guard let object = try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any] else {
      throw Failure(description: "\(method) \(path): no answer")
    }
    if let value = object["value"] as? [String: Any], let error = value["error"] as? String {
      throw Failure(description: "\(method) \(path): \(error): \(value["message"] ?? "")")
    }
    return object
  }

  func go(_ url: String) async throws {
    try await request("POST", "/session/\(session)/url", ["url": url])
  }

  func element(_ css: String) async throws -> String {
    let found = try await request(
      "POST", "/session/\(session)/element", ["using": "css selector", "value": css])
    guard let value = found["value"] as? [String: Any], let id = value.values.first as? String else {
      throw Failure(description: "no element \(css)")
    }
    return id
  }

  func type(_ css: String, _ text: String) async throws {
    let id = try await element(css)
    try await request("POST", "/session/\(session)/element/\(id)/clear", [:])
    try await request("POST", "/session/\(session)/element/\(id)/value", ["text": text])
  }

  /// Picks an option of a select by its visible text, as a person does.
  func choose(_ css: String, _ label: String) async throws {
    let found = try await request(
      "POST", "/session/\(session)/elements", ["using": "css selector", "value": "\(css) option"])
    for item in found["value"] as? [[String: Any]] ?? [] {
      guard let id = item.values.first as? String else { continue }
      let text = try await request("GET", "/session/\(session)/element/\(id)/text")
      if (text["value"] as? String)?.trimmingCharacters(in: .whitespaces) == label {
        try await request("POST", "/session/\(session)/element/\(id)/click", [:])
        return
      }
    }
    throw Failure(description: "\(css) has no option \(label)")
  }

  func click(_ css: String) async throws {
    try await request("POST", "/session/\(session)/element/\(try await element(css))/click", [:])
  }

  /// A date input takes what the keyboard gives it; setting its value is what a date picker does.
  func setDate(_ css: String, _ value: String) async throws {
    _ = try await run("document.querySelector(arguments[0]).value = arguments[1]; return true", [css, value])
  }

  func text(_ css: String = "body") async throws -> String {
    let id = try await element(css)
    return (try await request("GET", "/session/\(session)/element/\(id)/text"))["value"] as? String ?? ""
  }

  /// Waits for the page (which may reload itself, as the sync page does) to show `words`; the
  /// wait is bounded only by the sync's own deadlines, never by a few seconds.
  func waitFor(_ words: String, limit: Duration = .seconds(300)) async throws -> String {
    let clock = ContinuousClock()
    let end = clock.now + limit
    while true {
      let shown = (try? await text()) ?? ""
      if shown.contains(words) || clock.now > end { return shown }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  func run(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
    try await request("POST", "/session/\(session)/execute/sync", ["script": script, "args": arguments])["value"]
  }

  /// Saves what the browser shows as a PNG.
  func screenshot(_ path: URL) async throws {
    let shot = try await request("GET", "/session/\(session)/screenshot")
    guard let base64 = shot["value"] as? String, let data = Data(base64Encoded: base64) else {
      throw Failure(description: "no screenshot")
    }
    try data.write(to: path)
  }
}

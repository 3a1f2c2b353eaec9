import ArgumentParser
import Foundation
import OrgSyncClient
import OrgSyncRPC
import OrgSyncWeb

struct UI: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ui",
    abstract: "Open the office's web app in the browser: forms, lists, sync, conflicts and the county dashboard.",
    discussion:
      "It runs on this computer only (127.0.0.1) and reads this computer's own copy, so it works with the link down. The address it prints carries a secret made for this start: open that address, not a bookmark."
  )
  @OptionGroup var common: Common
  @Option(help: "The port to listen on (0: any free port).") var port = 0
  @Option(help: "The office's time zone, for times shown.") var timeZone = "Asia/Shanghai"
  @Flag(help: "Do not open a browser; only print the address.") var noBrowser = false

  func run() async throws {
    guard (0...65535).contains(port) else {
      throw Failure(message: "--port takes 0 to 65535", code: Exit.usage)
    }
    guard let zone = TimeZone(identifier: timeZone) else {
      throw Failure(message: "--time-zone: unknown time zone '\(timeZone)' (e.g. Asia/Shanghai)", code: Exit.usage)
    }
    let (replica, identity) = try common.enrolled()
    let configuration = try common.clientConfiguration(identity, replica: replica)
    let app = WebApp(replica: replica, identity: identity, timeZone: zone, lifeStandard: try common.lifeStandard()) {
      try RPCClient(configuration: configuration)
    }
    let open = !noBrowser
    try await app.run(port: port) { address in
      // Written at once (not buffered): a script or a test waits for this line.
      let lines =
        Words.pick(en: "OrgSync is open at \(address)", zh: "组织工作台账已启动：\(address)") + "\n"
        + Words.pick(en: "(keep this window open; Ctrl+C stops it)", zh: "（请保持此窗口打开；按 Ctrl+C 退出）") + "\n"
      FileHandle.standardOutput.write(Data(lines.utf8))
      if open { Browser.open(address) }
    }
  }
}

enum Browser {
  /// Opens the address in the desktop's browser, if there is one (xdg-open); quietly does
  /// nothing otherwise — the address is printed.
  static func open(_ address: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/xdg-open")
    process.arguments = [address]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try? process.run()
  }
}

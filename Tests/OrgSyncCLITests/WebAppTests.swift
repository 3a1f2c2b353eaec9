import Foundation
import Testing

/// `orgsync ui` running for one office, and the address it printed (with its secret).
final class WebUI: @unchecked Sendable {
  let process = Process()
  let address: String
  var base: String { String(address.prefix { $0 != "?" }.dropLast("/login".count)) }

  init(home: URL) async throws {
    process.executableURL = Tool.folder.appendingPathComponent("orgsync")
    process.arguments = ["ui", "--no-browser"]
    var environment = ProcessInfo.processInfo.environment
    environment["ORGSYNC_HOME"] = home.path
    environment["ORGSYNC_PASSPHRASE"] = Tool.passphrase
    environment["XDG_RUNTIME_DIR"] = Tool.runtimeFolder
    process.environment = environment
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try Tool.spawn(process)
    let reader = out.fileHandleForReading
    address = try await offPool {
      var text = ""
      while !text.contains("\n") {
        let chunk = reader.availableData
        if chunk.isEmpty { break }
        text += String(decoding: chunk, as: UTF8.self)
      }
      guard let start = text.range(of: "http://") else { return "" }
      return String(text[start.lowerBound...].prefix { !$0.isWhitespace })
    }
    #expect(address.contains("/login?t="), "orgsync ui prints its address")
  }

  deinit {
    process.interrupt()
    process.waitUntilExit()
  }
}

/// curl, as another program on the PC (or a page elsewhere) would try the web app.
func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
  let result = try await Tool.runBlockingAsync("/usr/bin/curl", ["-s", "-w", "\n%{http_code}"] + arguments)
  let lines = result.split(separator: "\n", omittingEmptySubsequences: false)
  return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
}

extension Tool {
  /// Runs any program to its end and returns its standard output.
  static func runBlockingAsync(_ path: String, _ arguments: [String]) async throws -> String {
    try await offPool {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: path)
      process.arguments = arguments
      let out = Pipe()
      process.standardOutput = out
      process.standardError = FileHandle.nullDevice
      try Tool.spawn(process)
      let data = out.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return String(decoding: data, as: UTF8.self)
    }
  }
}

@Suite("The office's web app")
struct WebAppTests {
  /// A county with a village branch and the county committee enrolled and synced.
  static func county(laptop: Bool = false) async throws -> (Daemon, village: URL, county: URL) {
    let daemon = try await Daemon()
    try await daemon.start()
    let server = "127.0.0.1:\(daemon.port)"
    let village = daemon.folder.appendingPathComponent("village")
    let county = daemon.folder.appendingPathComponent("county")
    var devices = [(village, "430521-100-001", "branch"), (county, "430521", "committee")]
    if laptop { devices.append((daemon.folder.appendingPathComponent("laptop"), "430521-100-001", "branch")) }
    for (home, unit, role) in devices {
      let code = try await daemon.code(unit: unit, role: role)
      #expect(try await Tool.run("orgsync", ["enroll", "--server", server, "--code", code], home: home).status == 0)
      #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    }
    return (daemon, village, county)
  }

  @Test("the lifecycle records have their forms and lists in Chinese: a dues payment typed in the browser is saved")
  func lifecycleForms() async throws {
    let (daemon, village, _) = try await Self.county()
    _ = daemon
    let ui = try await WebUI(home: village)
    let jar = village.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-b", jar, "-L", ui.address])
    for (type, label) in [
      ("transfer", "介绍信编号"), ("dues-payment", "交纳日期"), ("assessment", "评议等次"), ("notice-receipt", "签收日期"),
    ] {
      let form = try await curl(["-b", jar, "\(ui.base)/records/\(type)/new"])
      #expect(form.status == 200 && form.body.contains(label), "\(type)")
      #expect(try await curl(["-b", jar, "\(ui.base)/records/\(type)"]).status == 200, "\(type) list")
    }
    let members = try await Tool.run("orgsync", ["list", "member", "--json"], home: village)
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(members.out.utf8)) as? [[String: Any]])
    let member = try #require(rows.first?["id"] as? String)
    let form = try await curl(["-b", jar, "\(ui.base)/records/dues-payment/new"])
    let found = try #require(form.body.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression))
    let csrf = String(form.body[found].dropFirst(#"name="csrf" value=""#.count).dropLast())
    let saved = try await curl(
      ["-b", jar, "-X", "POST"]
        + [
          "csrf=\(csrf)", "member_id=\(member)", "from_month=202601", "to_month=202606", "amount_fen=300",
          "paid_on=2026-07-01",
        ]
        .flatMap { ["--data-urlencode", $0] } + ["\(ui.base)/records/dues-payment/new"])
    #expect(saved.status == 303, "\(saved.body.prefix(300))")
    let listed = try await Tool.run("orgsync", ["list", "dues-payment", "--json"], home: village)
    #expect(listed.out.contains("202606"), "\(listed.out)")
  }

  @Test(
    "only this PC's browser with the printed address gets in; a forged form changes nothing; a wrong date keeps what was typed"
  )
  func localOnly() async throws {
    let (daemon, village, _) = try await Self.county()
    _ = daemon
    let ui = try await WebUI(home: village)
    let jar = village.appendingPathComponent("cookies").path
    #expect(try await curl(["\(ui.base)/records/member"]).status == 403, "no secret, no page")
    #expect(try await curl(["\(ui.base)/login?t=wrong"]).status == 403)
    let rebound = try await curl(["-H", "Host: attacker.example", "-c", jar, "-L", ui.address])
    #expect(rebound.status == 403, "a page on another host name (DNS rebinding) is refused")
    let login = try await curl(["-c", jar, "-b", jar, "-L", ui.address])
    #expect(login.status == 200 && login.body.contains("立即同步"))

    let form = try await curl(["-b", jar, "\(ui.base)/records/member/new"])
    let found = form.body.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression)
    let range = try #require(found, "every form carries its token")
    let csrf = String(form.body[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
    let fields = ["name=宋玉兰", "gender=female", "status=full", "birth_date=1975-04-09"]
    func post(_ values: [String], origin: String? = nil) async throws -> (status: Int, body: String) {
      try await curl(
        ["-b", jar, "-X", "POST"] + (origin.map { ["-H", "Origin: \($0)"] } ?? [])
          + values.flatMap { ["--data-urlencode", $0] } + ["\(ui.base)/records/member/new"])
    }
    #expect(try await post(fields + ["csrf=0000"]).status == 403, "a form without the page's token is refused")
    #expect(try await post(fields + ["csrf=\(csrf)"], origin: "http://evil.example").status == 403)
    let wrongDate = try await post(["csrf=\(csrf)", "name=宋玉兰", "status=full", "birth_date=1975-02-30"])
    #expect(wrongDate.status == 200)
    #expect(wrongDate.body.contains("请填写真实的日期"), "the wrong field is named, in Chinese")
    #expect(wrongDate.body.contains(#"value="宋玉兰""#), "what was typed is still there")
    var listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: village)
    #expect(!listed.out.contains("宋玉兰"), "nothing was saved by the refused posts")

    // A field the type does not have (a forged or stale form) is ignored, not an error page.
    let saved = try await post(fields + ["csrf=\(csrf)", "bogus=1"])
    #expect(saved.status == 303)
    listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: village)
    #expect(listed.out.contains("宋玉兰"), "the form saves through the same replica the command line reads")
  }

  @Test(
    "in a real browser: the village adds a member, syncs, settles a conflict and submits its report; the county's dashboard names the late villages"
  )
  func inTheBrowser() async throws {
    let (daemon, village, county) = try await Self.county(laptop: true)
    let shots = URL(
      fileURLWithPath: ProcessInfo.processInfo.environment["ORGSYNC_SCREENSHOTS"]
        ?? daemon.folder.appendingPathComponent("screenshots").path)
    try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
    let browser = try await Browser()
    do {
      try await villageWork(browser, village: village, county: county, shots: shots)
      try await countyDashboard(browser, county: county, shots: shots)
    } catch {
      await browser.close()
      throw error
    }
    await browser.close()
  }

  @Test(
    "in a real browser, a conflict settled both ways: the office keeps its own value, then the other PC's; the server and both PCs hold exactly the value chosen"
  )
  func conflictKeepsTheChosenValue() async throws {
    let (daemon, office, _) = try await Self.county(laptop: true)
    let laptop = daemon.folder.appendingPathComponent("laptop")
    let members = try await Tool.run("orgsync", ["list", "member", "--json"], home: office)
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(members.out.utf8)) as? [[String: Any]])
    let id = try #require(rows.first?["id"] as? String)
    let browser = try await Browser()
    do {
      let ui = try await WebUI(home: office)
      try await browser.go(ui.address)
      // Round 1: the laptop types first and syncs; the office types later, so the office's value
      // is the one kept — the office sees its own value as kept and keeps it.
      #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "个体户"], home: laptop).status == 0)
      #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
      #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "乡村医生"], home: office).status == 0)
      try await browser.go(ui.base + "/")
      try await browser.click("#sync")
      _ = try await browser.waitFor("同步完成")
      try await browser.go(ui.base + "/conflicts")
      #expect(try await browser.text(".conflict td.mine") == "乡村医生", "本机录入的值 is what the office typed")
      #expect(try await browser.text(".conflict td.theirs") == "个体户", "另一台电脑录入的值 is the laptop's")
      #expect(try await browser.text(".conflict td.kept") == "乡村医生")
      try await browser.click("button[value=mine]")
      #expect(try await browser.text().contains("已处理"))
      try await browser.go(ui.base + "/")
      try await browser.click("#sync")
      _ = try await browser.waitFor("同步完成")
      #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
      for home in [office, laptop] {
        let shown = try await Tool.run("orgsync", ["show", id], home: home)
        #expect(shown.out.contains("乡村医生") && !shown.out.contains("个体户"), "\(home.lastPathComponent): \(shown.out)")
      }

      // Round 2: the office types first and syncs; the laptop types later and wins. The office
      // chooses the laptop's value: nothing of its own may come back.
      #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "种植大户"], home: office).status == 0)
      #expect(try await Tool.run("orgsync", ["sync"], home: office).status == 0)
      #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "合作社理事长"], home: laptop).status == 0)
      #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
      try await browser.go(ui.base + "/")
      try await browser.click("#sync")
      _ = try await browser.waitFor("同步完成")
      try await browser.go(ui.base + "/conflicts")
      #expect(try await browser.text(".conflict td.mine") == "种植大户")
      #expect(try await browser.text(".conflict td.theirs") == "合作社理事长")
      #expect(try await browser.text(".conflict td.kept") == "合作社理事长")
      try await browser.click("button[value=theirs]")
      try await browser.go(ui.base + "/")
      try await browser.click("#sync")
      _ = try await browser.waitFor("同步完成")
      #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
      for home in [office, laptop] {
        let shown = try await Tool.run("orgsync", ["show", id], home: home)
        #expect(shown.out.contains("合作社理事长") && !shown.out.contains("种植大户"), "\(home.lastPathComponent): \(shown.out)")
      }
      let open = try await Tool.run("orgsync", ["conflicts", "list", "--json"], home: office)
      let listed = try JSONSerialization.jsonObject(with: Data(open.out.utf8)) as? [Any]
      #expect(listed?.isEmpty == true, "both conflicts settled: \(open.out)")
    } catch {
      await browser.close()
      throw error
    }
    await browser.close()
  }

  func villageWork(_ browser: Browser, village: URL, county: URL, shots: URL) async throws {
    let laptop = village.deletingLastPathComponent().appendingPathComponent("laptop")
    let ui = try await WebUI(home: village)
    try await browser.go(ui.address)
    #expect(try await browser.text().contains("立即同步"))
    try await browser.screenshot(shots.appendingPathComponent("village-home.png"))

    // A member, typed and picked as a secretary does.
    try await browser.go(ui.base + "/records/member/new")
    try await browser.type("#f-name", "周桂英")
    try await browser.choose("#f-gender", "女")
    try await browser.choose("#f-status", "正式党员")
    try await browser.setDate("#f-birth_date", "1988-03-02")
    try await browser.type("#f-occupation", "村医")
    try await browser.screenshot(shots.appendingPathComponent("village-form.png"))
    try await browser.click("#save")
    var page = try await browser.text()
    #expect(page.contains("已保存党员") && page.contains("周桂英"), "saved, and listed")
    try await browser.go(ui.base + "/")
    try await browser.click("#sync")
    #expect(try await browser.waitFor("同步完成").contains("同步完成"))

    // The secretary's laptop, another PC of the same branch, changes the same field later and
    // syncs first: the office's value loses, and is kept in the conflict inbox.
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: village)
    let members = try #require(try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]])
    let id = try #require(members.first { $0["name"] as? String == "周桂英" }?["id"] as? String)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    try await browser.go(ui.base + "/record/\(id)/edit")
    try await browser.type("#f-occupation", "乡村医生")
    try await browser.click("#save")
    #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "个体户"], home: laptop).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    try await browser.go(ui.base + "/")
    try await browser.click("#sync")
    #expect(try await browser.waitFor("同步完成").contains("1 个冲突待处理"))
    try await browser.go(ui.base + "/conflicts")
    page = try await browser.text()
    #expect(page.contains("个体户") && page.contains("乡村医生"), "both values, side by side")
    try await browser.screenshot(shots.appendingPathComponent("village-conflicts.png"))
    try await browser.click("button[value=mine]")
    #expect(try await browser.text().contains("已处理"))
    try await browser.go(ui.base + "/")
    try await browser.click("#sync")
    #expect(try await browser.waitFor("同步完成").contains("同步完成"))
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    let after = try await Tool.run("orgsync", ["show", id], home: laptop)
    #expect(after.out.contains("乡村医生"), "the office's value, kept, reached the laptop: \(after.out)")

    // The quarterly report.
    try await browser.go(ui.base + "/records/report/new")
    try await browser.type("#f-year", "2026")
    try await browser.choose("#f-period", "第三季度")
    try await browser.choose("#f-kind", "季度检查")
    try await browser.type("#f-title", "2026年第三季度检查报告")
    try await browser.type("#f-body", "本季度走访群众四十户，收集意见九条。")
    try await browser.choose("#f-status", "已上报")
    try await browser.setDate("#f-submitted_on", "2026-10-08")
    try await browser.click("#save")
    #expect(try await browser.text().contains("已保存报告"))
    try await browser.go(ui.base + "/")
    try await browser.click("#sync")
    #expect(try await browser.waitFor("同步完成").contains("同步完成"))
  }

  func countyDashboard(_ browser: Browser, county: URL, shots: URL) async throws {
    #expect(try await Tool.run("orgsync", ["sync"], home: county).status == 0)
    // Who is late, as the county's own copy computes it (the command line's table).
    let table = try await Tool.run("orgsync", ["aggregate", "--period", "2026-Q3", "--offline"], home: county)
    let lateLine = table.out.split(separator: "\n").first { $0.hasPrefix("late with") } ?? ""
    let late =
      lateLine.split(separator: ":").last.map {
        $0.split(separator: "、").map { $0.trimmingCharacters(in: .whitespaces) }
      } ?? []
    #expect(!late.isEmpty, "the sample county has late villages for 2026 Q3")
    let ui = try await WebUI(home: county)
    try await browser.go(ui.address)
    try await browser.go(ui.base + "/dashboard?period=2026-Q3")
    let page = try await browser.text()
    for name in late { #expect(page.contains("未按时上报") && page.contains(name), "\(name) is named as late") }
    #expect(!late.contains { $0.contains("太平村") }, "the village that reported is not late")
    try await browser.screenshot(shots.appendingPathComponent("county-dashboard.png"))
    // Chinese glyphs are drawn (a missing CJK font draws the same box as a missing character).
    let drawn = try await browser.run(
      """
      const c = document.createElement('canvas'); c.width = 64; c.height = 64; const x = c.getContext('2d');
      const draw = t => { x.clearRect(0, 0, 64, 64); x.font = '48px sans-serif'; x.fillText(t, 4, 52);
        return Array.from(x.getImageData(0, 0, 64, 64).data).join(','); };
      const glyph = draw('党'), missing = draw('\\uFFFF'), blank = (x.clearRect(0, 0, 64, 64), Array.from(x.getImageData(0, 0, 64, 64).data).join(','));
      return glyph !== missing && glyph !== blank;
      """)
    #expect(drawn as? Bool == true, "the page's Chinese renders with a CJK font")
    let size = try await browser.run("return performance.getEntriesByType('navigation')[0].encodedBodySize")
    #expect(
      ((size as? Int) ?? Int.max) < 300_000, "the dashboard's first load is under 300 KB (\(String(describing: size)))")
    // A drill-down: the township's name leads one level down.
    try await browser.click("#rollup a")
    #expect(try await browser.text().contains("返回上级"))
  }
}

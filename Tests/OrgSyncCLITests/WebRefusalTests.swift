import Foundation
import Testing

/// The page's CSRF token (every form carries it).
func csrfToken(_ body: String) throws -> String {
  let found = body.range(of: #"name="csrf" value="[0-9a-f]+""#, options: .regularExpression)
  let range = try #require(found, "the page has a form with its token")
  return String(body[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
}

@Suite("Refused edits and history in the web app")
struct WebRefusalTests {
  @Test(
    "a refused edit keeps its typed text in the web app: sent again as typed, corrected in its form, or dropped; the record's history names who changed which field"
  )
  func refusedAndHistory() async throws {
    let (daemon, village, _) = try await WebAppTests.county(laptop: true)
    let laptop = daemon.folder.appendingPathComponent("laptop")
    // The office submits a report; the laptop, not yet told, rewrites its text: the server refuses.
    let added = try await Tool.run(
      "orgsync",
      [
        "add", "report", "--year", "2026", "--period", "q3", "--kind", "quarterly-check", "--title", "第三季度检查报告",
        "--status", "draft",
      ], home: village)
    #expect(added.status == 0, "\(added.err)")
    let id = try #require(added.out.split(separator: " ").dropFirst(2).first.map(String.init))
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    let submitted = try await Tool.run(
      "orgsync", ["edit", id, "--status", "submitted", "--submitted-on", "2026-10-08"], home: village)
    #expect(submitted.status == 0, "\(submitted.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)
    #expect(try await Tool.run("orgsync", ["edit", id, "--body", "补充走访情况"], home: laptop).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 68)

    let ui = try await WebUI(home: laptop)
    let jar = laptop.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    func page(_ path: String) async throws -> String { try await curl(["-b", jar, ui.base + path]).body }
    func post(_ path: String, _ values: [String]) async throws -> Int {
      try await curl(["-b", jar, "-X", "POST"] + values.flatMap { ["--data-urlencode", $0] } + [ui.base + path]).status
    }
    func refused() async throws -> Int {
      let out = try await Tool.run("orgsync", ["status", "--json"], home: laptop).out
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
      return try #require(rows.first?["refused"] as? Int, "\(out)")
    }
    var listed = try await page("/rejected")
    #expect(listed.contains("补充走访情况"), "what was typed is shown")
    let editID = try #require(
      listed.range(of: #"/rejected/[0-9a-f-]+/retry"#, options: .regularExpression).map {
        String(listed[$0].dropFirst("/rejected/".count).dropLast("/retry".count))
      })
    let csrf = try csrfToken(listed)
    #expect(try await post("/rejected/\(editID)/retry", ["csrf=0000"]) == 403, "a forged post changes nothing")
    #expect(try await refused() == 1)

    // The correction form holds the typed text. This PC now knows the report was submitted, so
    // its own copy of the rules refuses the corrected text at once: the form comes back with the
    // reason and the new text, and the refused edit is still kept.
    let form = try await page("/rejected/\(editID)/edit")
    #expect(form.contains("补充走访情况") && form.contains("服务器退回的原因"))
    let corrected = try await curl(
      ["-b", jar, "-X", "POST", "--data-urlencode", "csrf=\(csrf)", "--data-urlencode", "body=补充走访情况（已核实）"]
        + [ui.base + "/rejected/\(editID)/edit"])
    #expect(corrected.status == 200)
    #expect(corrected.body.contains("补充走访情况（已核实）") && corrected.body.contains("没有保存"), "\(corrected.body)")
    #expect(try await refused() == 1)
    listed = try await page("/rejected")
    #expect(listed.contains("补充走访情况"))

    // Dropped for good.
    let again = try #require(
      listed.range(of: #"/rejected/[0-9a-f-]+/discard"#, options: .regularExpression).map {
        String(listed[$0].dropFirst("/rejected/".count).dropLast("/discard".count))
      })
    #expect(try await post("/rejected/\(again)/discard", ["csrf=\(csrf)"]) == 303)
    #expect(try await refused() == 0)
    #expect(try await page("/rejected").contains("没有被退回的修改"))

    // The history: the office's create and its change of status and date, by field name.
    let history = try await page("/record/\(id)/history")
    #expect(history.contains("新建") && history.contains("修改"), "\(history)")
    let changed = try #require(history.split(separator: "<tr>").first { $0.contains("<td>修改</td>") })
    #expect(changed.contains("状态") && changed.contains("上报日期"), "the changed fields by label: \(changed)")
    #expect(!changed.contains("2026-10-08"), "never the values")
    #expect(!history.contains("连不上服务器"))

    // With the server gone, the page says so and still lists this PC's own waiting edit.
    let member = try await Tool.run("orgsync", ["add", "member", "--name", "彭秋菊", "--status", "full"], home: laptop)
    let memberID = try #require(member.out.split(separator: " ").dropFirst(2).first.map(String.init))
    await daemon.stop()
    let offline = try await page("/record/\(memberID)/history")
    #expect(offline.contains("连不上服务器"))
    #expect(offline.contains("本机（待上传）") && offline.contains("新建"))
  }

  @Test(
    "a value the server would refuse is refused by the web form at once, the field named in Chinese, what was typed kept, nothing queued"
  )
  func webFormRunsTheFieldChecks() async throws {
    let (daemon, village, _) = try await WebAppTests.county()
    _ = daemon
    let ui = try await WebUI(home: village)
    let jar = village.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    let csrf = try csrfToken(try await curl(["-b", jar, ui.base + "/records/member/new"]).body)
    func queued() async throws -> Int {
      let out = try await Tool.run("orgsync", ["status", "--json"], home: village).out
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
      return try #require(rows.first?["queued"] as? Int, "\(out)")
    }
    let before = try await queued()
    // More members present at the admission meeting than had a vote: the server's rule.
    let answer = try await curl(
      ["-b", jar, "-X", "POST"]
        + [
          "csrf=\(csrf)", "name=龙秋菊", "gender=female", "status=applicant", "applied_on=2026-03-01",
          "vote_expected=10", "vote_present=12",
        ].flatMap { ["--data-urlencode", $0] } + [ui.base + "/records/member/new"])
    #expect(answer.status == 200, "the form comes back, not a redirect to 已保存")
    #expect(answer.body.contains("没有保存"), "\(answer.body)")
    #expect(answer.body.contains("龙秋菊") && answer.body.contains("value=\"12\""), "what was typed is kept")
    #expect(!answer.body.contains("more members attended"), "in Chinese")
    #expect(try await queued() == before, "nothing queued")
  }

  @Test(
    "a form body that is not form-encoded (raw UTF-8, a bad escape): 400 in Chinese, nothing saved, the app still serves"
  )
  func badFormBody() async throws {
    let (daemon, village, _) = try await WebAppTests.county()
    _ = daemon
    let ui = try await WebUI(home: village)
    let jar = village.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    let csrf = try csrfToken(try await curl(["-b", jar, ui.base + "/records/member/new"]).body)
    let before = try await Tool.run("orgsync", ["list", "member", "--json"], home: village).out
    for body in ["csrf=\(csrf)&name=张三&status=full", "csrf=\(csrf)&name=%E5%BC%A0%zz", "csrf=\(csrf)&name=%FF%FE"] {
      let answer = try await curl(
        ["-b", jar, "-X", "POST", "-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", body]
          + [ui.base + "/records/member/new"])
      #expect(answer.status == 400, "\(body): \(answer.status)")
      #expect(answer.body.contains("表单内容无法读取"), "\(answer.body)")
    }
    #expect(try await curl(["-b", jar, ui.base + "/"]).status == 200, "the app still serves")
    #expect(try await Tool.run("orgsync", ["list", "member", "--json"], home: village).out == before, "nothing saved")
  }

  @Test("a conflict settled with a third value: the office types it in the inbox and the other PC gets it")
  func conflictWithThirdValue() async throws {
    let (daemon, village, _) = try await WebAppTests.county(laptop: true)
    let laptop = daemon.folder.appendingPathComponent("laptop")
    let added = try await Tool.run("orgsync", ["add", "member", "--name", "周桂英", "--status", "full"], home: village)
    let id = try #require(added.out.split(separator: " ").dropFirst(2).first.map(String.init))
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "个体户"], home: laptop).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    #expect(try await Tool.run("orgsync", ["edit", id, "--occupation", "村医"], home: village).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)

    let ui = try await WebUI(home: village)
    let jar = village.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    let inbox = try await curl(["-b", jar, ui.base + "/conflicts"]).body
    #expect(inbox.contains("个体户") && inbox.contains("村医"))
    let conflict = try #require(
      inbox.range(of: #"action="/conflicts/[0-9a-f-]+""#, options: .regularExpression).map {
        String(inbox[$0].dropFirst(#"action="/conflicts/"#.count).dropLast())
      })
    #expect(inbox.contains("id=\"f-occupation-\(conflict)\""), "the disputed field has its own input")
    let posted = try await curl(
      ["-b", jar, "-X", "POST"]
        + ["csrf=\(try csrfToken(inbox))", "keep=edit", "occupation=乡村医生", "name=改名"].flatMap {
          ["--data-urlencode", $0]
        }
        + [ui.base + "/conflicts/\(conflict)"])
    #expect(posted.status == 303)
    let settled = try await curl(["-b", jar, ui.base + "/conflicts"]).body
    #expect(settled.contains("已在本机处理") && !settled.contains("f-occupation-\(conflict)"), "settled, no buttons")
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)
    #expect(try await curl(["-b", jar, ui.base + "/conflicts"]).body.contains("没有待处理的冲突"))
    #expect(try await Tool.run("orgsync", ["sync"], home: laptop).status == 0)
    let shown = try await Tool.run("orgsync", ["show", id], home: laptop)
    #expect(shown.out.contains("乡村医生"), "the third value reached the other PC: \(shown.out)")
    #expect(shown.out.contains("周桂英") && !shown.out.contains("改名"), "a field not in dispute is left as it was")
  }
}

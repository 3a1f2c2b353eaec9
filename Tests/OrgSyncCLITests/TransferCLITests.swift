import Foundation
import Testing

/// 组织关系转接 between two villages of different townships, each on its own PC, through the
/// real server: the letter issued at one end shows at the other as in transit, is accepted
/// there, and the member arrives; the year-end statistics count the arrival.
@Suite("Transfers between two offices")
struct TransferCLITests {
  static func enrol(_ daemon: Daemon, unit: String, as name: String) async throws -> URL {
    let home = daemon.folder.appendingPathComponent(name)
    let enrolled = try await Tool.run(
      "orgsync",
      ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", try await daemon.code(unit: unit, role: "branch")],
      home: home)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    return home
  }

  static func rows(_ result: Tool.Result) throws -> [[String: Any]] {
    try #require(
      (try? JSONSerialization.jsonObject(with: Data(result.out.utf8))) as? [[String: Any]], "\(result.err)")
  }

  @Test(
    "issued in one village, in transit at both, accepted in the other: the member moves and is counted as transferred in"
  )
  func twoOffices() async throws {
    let daemon = try await Daemon(townships: 2, villages: 1, members: 2)
    try await daemon.start()
    let from = try await Self.enrol(daemon, unit: "430521-100-001", as: "from")
    let to = try await Self.enrol(daemon, unit: "430521-101-001", as: "to")
    #expect(try await Tool.run("orgsync", ["sync"], home: from).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: to).status == 0)

    let added = try await Tool.run(
      "orgsync",
      [
        "add", "member", "--name", "龙海燕", "--gender", "女", "--status", "正式党员", "--ethnicity", "侗族",
        "--occupation-code", "学生",
      ], home: from)
    #expect(added.status == 0, "\(added.err)")
    let members = try Self.rows(try await Tool.run("orgsync", ["list", "member", "--json"], home: from))
    let memberID = try #require(members.first { $0["name"] as? String == "龙海燕" }?["id"] as? String)
    let issued = try await Tool.run(
      "orgsync",
      [
        "add", "transfer", "--member-id", memberID, "--member-name", "龙海燕", "--to-unit-code", "430521-101-001",
        "--to-unit-name", "对方村党支部", "--letter-no", "邵组转〔2026〕7号", "--reason", "婚嫁迁居", "--issued-on", "2026-11-20",
        "--status", "在途",
      ], home: from)
    #expect(issued.status == 0, "\(issued.err)")
    // The issuing office cannot mark its own letter accepted: refused at once, in Chinese.
    let selfAccepted = try await Tool.run(
      "orgsync",
      [
        "add", "transfer", "--member-id", memberID, "--member-name", "龙海燕", "--to-unit-code", "430521-101-001",
        "--letter-no", "邵组转〔2026〕8号", "--issued-on", "2026-11-20", "--status", "已接收", "--answered-on", "2026-11-21",
      ], home: from, environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8"])
    #expect(selfAccepted.status == 67, "\(selfAccepted.err)")
    #expect(selfAccepted.err.contains("只有转入单位可以接收或退回组织关系"), "\(selfAccepted.err)")
    // Still in transit on the issuing PC, before any sync.
    let pending = try Self.rows(try await Tool.run("orgsync", ["lists", "--period", "2026", "--json"], home: from))
    let inTransit = pending.first { $0["id"] as? String == "transfers" }?["rows"] as? [[String]]
    #expect(inTransit?.first?.first == "龙海燕", "\(pending.map { $0["id"] ?? "" })")
    #expect(try await Tool.run("orgsync", ["sync"], home: from).status == 0)

    // The receiving office sees the letter (not the member yet) and accepts it.
    #expect(try await Tool.run("orgsync", ["sync"], home: to).status == 0)
    let received = try Self.rows(try await Tool.run("orgsync", ["lists", "--period", "2026", "--json"], home: to))
    #expect((received.first { $0["id"] as? String == "transfers" }?["rows"] as? [[String]])?.first?.first == "龙海燕")
    let before = try await Tool.run("orgsync", ["list", "member", "--json"], home: to)
    #expect(!before.out.contains("龙海燕"))
    let transfers = try Self.rows(try await Tool.run("orgsync", ["list", "transfer", "--json"], home: to))
    let transferID = try #require(transfers.first?["id"] as? String)
    let accepted = try await Tool.run(
      "orgsync", ["edit", transferID, "--status", "已接收", "--answered-on", "2026-11-25"], home: to)
    #expect(accepted.status == 0, "\(accepted.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: to).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: to).status == 0)
    let after = try Self.rows(try await Tool.run("orgsync", ["list", "member", "--json"], home: to))
    #expect(after.contains { $0["name"] as? String == "龙海燕" }, "the member arrived")

    // The issuing office: the member gone, the letter kept as accepted, nothing in transit.
    #expect(try await Tool.run("orgsync", ["sync"], home: from).status == 0)
    let left = try await Tool.run("orgsync", ["list", "member", "--json"], home: from)
    #expect(!left.out.contains("龙海燕"))
    let trace = try await Tool.run("orgsync", ["list", "transfer", "--json"], home: from)
    #expect(trace.out.contains("accepted"), "\(trace.out)")
    let lists = try Self.rows(try await Tool.run("orgsync", ["lists", "--period", "2026", "--json"], home: from))
    #expect((lists.first { $0["id"] as? String == "transfers" }?["rows"] as? [[String]])?.isEmpty == true)

    // The year-end statistics of the receiving village: one transferred in, counted by
    // nationality and occupation class.
    let stats = try Self.rows(try await Tool.run("orgsync", ["stats", "--year", "2026", "--json"], home: to))
    func count(_ table: String, _ row: String) -> Int? {
      stats.first { $0["table"] as? String == table && $0["row"] as? String == row }?["count"] as? Int
    }
    #expect(count("本年变动", "组织关系转入（本年接收）") == 1)
    #expect(count("少数民族构成", "侗族") == 1)
    #expect(count("职业", "学生") == 1)
  }
}

import Foundation
import Testing

@Suite("The command line under a Chinese locale")
struct ChineseCLITests {
  @Test(
    "under zh_CN the command line takes Chinese values and answers in Chinese: saved, refused by a rule (naming the field), unreachable"
  )
  func chineseLocale() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await enrolledBranch(daemon)
    #expect(try await Tool.run("orgsync", ["sync"], home: home).status == 0)
    let zh = ["LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8"]

    let added = try await Tool.run(
      "orgsync", ["add", "member", "--name", "彭秋菊", "--gender", "女", "--status", "正式党员", "--education", "高中"],
      home: home, environment: zh)
    #expect(added.status == 0, "\(added.err)")
    #expect(added.out.contains("已保存在本机"), "\(added.out)")
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: home)
    #expect(listed.out.contains("彭秋菊") && listed.out.contains("\"full\""), "the Chinese value is stored as full")

    // A rule the device checks itself: the field's label and the rule, in Chinese; nothing saved.
    let young = try await Tool.run(
      "orgsync",
      [
        "add", "member", "--name", "李小军", "--status", "入党申请人", "--birth-date", "2010-03-01", "--applied-on",
        "2026-03-01",
      ], home: home, environment: zh)
    #expect(young.status == 65, "\(young.err)")
    #expect(young.err.contains("递交入党申请时须年满 18 岁") && young.err.contains("没有保存"), "\(young.err)")
    #expect(!(try await Tool.run("orgsync", ["list", "member", "--json"], home: home)).out.contains("李小军"))

    // The server gone: the hint says the typed work is safe.
    await daemon.stop()
    let offline = try await Tool.run("orgsync", ["sync"], home: home, environment: zh)
    #expect(offline.status == 69)
    #expect(offline.err.contains("连不上服务器") && offline.err.contains("不会丢失"), "\(offline.err)")
    // English stays available: the same command without the Chinese locale.
    let english = try await Tool.run(
      "orgsync", ["sync"], home: home, environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"])
    #expect(english.err.contains("nothing entered is lost"), "\(english.err)")
  }
}

import Foundation
import Testing

/// `orgsyncd serve --postgres` twice against one database, as the README sets it up. Runs when
/// the test command has started a PostgreSQL cluster (`ORGSYNC_TEST_POSTGRES`).
@Suite(
  "Two orgsyncd processes on one PostgreSQL database",
  .enabled(if: ProcessInfo.processInfo.environment["ORGSYNC_TEST_POSTGRES"] != nil))
struct TwoServersPostgresTests {
  static func freshSchema() throws -> String {
    let url = try #require(ProcessInfo.processInfo.environment["ORGSYNC_TEST_POSTGRES"])
    return url + (url.contains("?") ? "&" : "?") + "schema=cli_"
      + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
  }

  @Test("a branch syncs through one server, the county through the other, and sees what the branch typed")
  func twoServers() async throws {
    let first = try await Daemon(townships: 1, villages: 2, members: 3, postgres: try Self.freshSchema())
    // The second process shares the first's data folder (the county's certificate authority)
    // and its database; nothing else passes between them.
    let second = try await Daemon(existing: first.data, folder: first.folder, storeArguments: first.storeArguments)
    try await first.start()
    try await second.start()
    #expect(first.port > 0 && second.port > 0 && first.port != second.port)

    let branch = try await enrolledBranch(first)  // through the first server
    let county = first.folder.appendingPathComponent("county")
    let viaSecond = try await Tool.run(
      "orgsync",
      [
        "enroll", "--server", "127.0.0.1:\(second.port)", "--code",
        try await second.code(unit: "430521", role: "committee"),
      ],
      home: county)
    #expect(viaSecond.status == 0, "\(viaSecond.err)")

    let added = try await Tool.run(
      "orgsync",
      ["add", "member", "--name", "欧阳春花", "--status", "正式党员", "--gender", "女", "--birth-date", "1971-05-04"],
      home: branch)
    #expect(added.status == 0, "\(added.err)")
    let sent = try await Tool.run("orgsync", ["sync"], home: branch)
    #expect(sent.status == 0, "\(sent.err)")
    #expect(sent.out.contains("sent 1"))

    // The first server goes away: the second answers from the database alone.
    await first.stop()
    let pulled = try await Tool.run("orgsync", ["sync"], home: county)
    #expect(pulled.status == 0, "\(pulled.err)")
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: county)
    #expect(listed.status == 0, "\(listed.err)")
    #expect(listed.out.contains("欧阳春花"))
    await second.stop()
  }
}

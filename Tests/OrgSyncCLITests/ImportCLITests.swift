import Foundation
import Testing

@Suite("Importing the hierarchy, end to end")
struct ImportCLITests {
  @Test("a changed unit list updates what changed; a GBK file from Excel with quoted commas and Chinese names imports")
  func reimport() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-reimport-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = folder.appendingPathComponent("server").path
    #expect(try await Tool.run("orgsyncd", ["init", "--data", data]).status == 0)
    let first = folder.appendingPathComponent("units.csv")
    try """
    code,name,level,kind,parent_code
    430521,中共邵东县委员会,县,党委,
    430521-100,中共廉桥镇委员会,乡镇,党委,430521
    430521-100-001,太平村党支部,村,党支部,430521-100
    """.write(to: first, atomically: true, encoding: .utf8)
    let imported = try await Tool.run("orgsyncd", ["import", "--data", data, first.path])
    #expect(imported.status == 0, "\(imported.err)")
    #expect(imported.out.contains("imported 3 new units"), "\(imported.out)")

    // The county renames a village branch, makes it a general branch, and adds one whose name
    // holds a comma — saved by Excel as GBK.
    let utf8 = """
      code,name,level,kind,parent_code\r
      430521,中共邵东县委员会,县,党委,\r
      430521-100,中共廉桥镇委员会,乡镇,党委,430521\r
      430521-100-001,太平村党总支部,村,党总支,430521-100\r
      430521-100-002,"新民村党支部（含原大塘村,合并）",村,党支部,430521-100\r

      """
    let gbk = folder.appendingPathComponent("units-gbk.csv")
    let source = folder.appendingPathComponent("units-utf8.csv")
    try utf8.write(to: source, atomically: true, encoding: .utf8)
    let converted = try await offPool { () -> Data in
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/iconv")
      process.arguments = ["-f", "UTF-8", "-t", "GBK", source.path]
      let out = Pipe()
      process.standardOutput = out
      try Tool.spawn(process)
      let data = out.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return data
    }
    #expect(String(data: converted, encoding: .utf8) == nil, "the file really is GBK, not UTF-8")
    try converted.write(to: gbk)
    let again = try await Tool.run("orgsyncd", ["import", "--data", data, gbk.path])
    #expect(again.status == 0, "\(again.err)")
    #expect(again.out.contains("updated 430521-100-001: name, kind"), "\(again.out)")
    #expect(again.out.contains("imported 1 new units, updated 1, unchanged 2, refused 0"), "\(again.out)")

    // A branch PC sees the new name and the comma intact.
    let daemon = try await daemonOn(data: data, folder: folder)
    let home = folder.appendingPathComponent("branch")
    let code = try await Tool.run(
      "orgsyncd", ["enroll", "--data", data, "--unit", "430521-100-002", "--role", "branch"])
    let enrolled = try await Tool.run(
      "orgsync",
      [
        "enroll", "--server", "127.0.0.1:\(daemon.port)", "--code",
        code.out.trimmingCharacters(in: .whitespacesAndNewlines),
      ],
      home: home)
    #expect(enrolled.out.contains("新民村党支部（含原大塘村,合并）"), "\(enrolled.out) \(enrolled.err)")
    await daemon.stop()
  }
}

/// `orgsyncd serve` on an existing data folder.
func daemonOn(data: String, folder: URL) async throws -> Daemon {
  let daemon = try await Daemon(existing: data, folder: folder)
  try await daemon.start()
  return daemon
}

@Suite("Machine output, end to end")
struct JSONCLITests {
  @Test("--json and export write numbers as numbers, under the field names of the protos")
  func typedJSON() async throws {
    let daemon = try await Daemon(townships: 1, villages: 1, members: 2)
    try await daemon.start()
    let home = try await enrolledBranch(daemon)
    let added = try await Tool.run(
      "orgsync",
      [
        "add", "meeting", "--date", "2026-10-09", "--kind", "branch-general", "--topic", "学习", "--expected-count",
        "21", "--attendee-count", "20",
      ], home: home)
    #expect(added.status == 0, "\(added.err)")
    let exported = try await Tool.run("orgsync", ["export", "--type", "meeting"], home: home)
    let line = try #require(exported.out.split(separator: "\n").first)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["attendee_count"] as? Int == 20, "\(line)")
    #expect(object["expected_count"] as? Int == 21)
    #expect(object["date"] as? String == "2026-10-09")
    #expect(object["pending"] as? Bool == true)
    let status = try await Tool.run("orgsync", ["status", "--json"], home: home)
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [[String: Any]])
    #expect(rows.first?["queued"] as? Int == 1)
    #expect(rows.first?["open_conflicts"] as? Int == 0)
  }
}

import Foundation
import Testing
import ZIPFoundation

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("The county's dashboard, named and downloadable")
struct DashboardTests {
  /// The cells of the one sheet of a workbook, row by row (inline strings and numbers).
  static func sheet(_ file: URL) throws -> [[String]] {
    let archive = try Archive(url: file, accessMode: .read)
    for part in ["[Content_Types].xml", "xl/workbook.xml", "_rels/.rels", "xl/_rels/workbook.xml.rels"] {
      #expect(archive[part] != nil, "a workbook holds \(part)")
    }
    let entry = try #require(archive["xl/worksheets/sheet1.xml"])
    var xml = Data()
    _ = try archive.extract(entry) { xml.append($0) }
    let reader = SheetReader()
    let parser = XMLParser(data: xml)
    parser.delegate = reader
    #expect(parser.parse(), "the sheet is well-formed XML")
    return reader.rows
  }

  @Test(
    "the county sees by name the cadres without a lecture, and a lecture takes the cadre off; each table downloads as an Excel workbook"
  )
  func namedLists() async throws {
    let (daemon, village, county) = try await WebAppTests.county()
    // The count the roll-up gives, from the command line.
    func noLecture() async throws -> Int {
      let json = try await Tool.run(
        "orgsync", ["aggregate", "--period", "2026-Q3", "--offline", "--json"], home: county)
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
      return try #require(rows.first { $0["unit"] as? String == "total" }?["no_lecture"] as? Int)
    }
    let counted = try await noLecture()
    #expect(counted > 0, "the sample county has cadres without a lecture")

    let ui = try await WebUI(home: county)
    let jar = county.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    let page = try await curl(["-b", jar, "\(ui.base)/dashboard?period=2026-Q3"])
    #expect(page.status == 200)
    #expect(page.body.contains("未讲党课的领导干部（\(counted)）"), "the page counts as the roll-up does")

    // The same list as a workbook: a header and one row per cadre, each a leading cadre.
    let file = daemon.folder.appendingPathComponent("no-lecture.xlsx")
    let download = try await curl([
      "-b", jar, "-o", file.path, "\(ui.base)/dashboard.xlsx?table=no-lecture&period=2026-Q3",
    ])
    #expect(download.status == 200)
    let rows = try Self.sheet(file)
    #expect(rows.first == ["姓名", "单位", "职务"])
    #expect(rows.count == counted + 1, "every cadre the count stands for is named (\(rows.count - 1) of \(counted))")
    let members = try await Tool.run("orgsync", ["list", "member", "--json"], home: county)
    let listed = try #require(try JSONSerialization.jsonObject(with: Data(members.out.utf8)) as? [[String: Any]])
    let cadres = listed.filter { $0["leading_cadre"] as? Bool == true }
    let named = try #require(rows.dropFirst().first)
    let cadre = try #require(cadres.first { $0["name"] as? String == named[0] }, "\(named[0]) is a leading cadre")
    #expect(page.body.contains(named[0]), "the page names them too")

    // A lecture at the county committee's own office does not count (lectures go to the grass
    // roots); one in a village does, and the next look no longer names the cadre.
    let atCounty = try await Tool.run(
      "orgsync",
      [
        "add", "lecture", "--unit", "430521", "--speaker-id", try #require(cadre["id"] as? String), "--speaker-name",
        named[0], "--date", "2026-09-10", "--topic", "学习党章", "--audience-size", "12", "--kind", "party-lecture",
      ], home: county)
    #expect(atCounty.status == 0, "\(atCounty.err)")
    #expect(try await noLecture() == counted)
    // The village hosting the lecture records it (a committee writes at its own level).
    let added = try await Tool.run(
      "orgsync",
      [
        "add", "lecture", "--speaker-id", try #require(cadre["id"] as? String), "--speaker-name", named[0], "--date",
        "2026-09-12", "--topic", "学习党章", "--audience-size", "40", "--kind", "party-lecture",
      ], home: village)
    #expect(added.status == 0, "\(added.err)")
    #expect(try await Tool.run("orgsync", ["sync"], home: village).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: county).status == 0)
    #expect(try await noLecture() == counted - 1)
    let again = try await curl(["-b", jar, "\(ui.base)/dashboard?period=2026-Q3"])
    #expect(again.body.contains("未讲党课的领导干部（\(counted - 1)）"))

    // Probationary members a year or more into probation are named as due for conversion: the
    // same members the command line shows with a probation start a year or more ago.
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "Asia/Shanghai")!
    let yearAgo = calendar.date(byAdding: .year, value: -1, to: Date())!
    let formatter = DateFormatter()
    formatter.timeZone = calendar.timeZone
    formatter.dateFormat = "yyyy-MM-dd"
    var due: [String] = []
    for probationary in listed where probationary["status"] as? String == "probationary" {
      let shown = try await Tool.run("orgsync", ["show", try #require(probationary["id"] as? String)], home: county)
      let start = shown.out.range(of: #"probation_start\s+[0-9-]{10}"#, options: .regularExpression).map {
        String(shown.out[$0].suffix(10))
      }
      if let start, start <= formatter.string(from: yearAgo) {
        due.append(try #require(probationary["name"] as? String))
      }
    }
    #expect(!due.isEmpty, "the sample has probationary members past their year")
    let dueFile = daemon.folder.appendingPathComponent("conversions.xlsx")
    _ = try await curl(["-b", jar, "-o", dueFile.path, "\(ui.base)/dashboard.xlsx?table=conversions&period=2026-Q3"])
    let dueRows = try Self.sheet(dueFile).dropFirst()
    #expect(dueRows.map { $0[0] }.sorted() == due.sorted(), "named: \(dueRows.map { $0[0] }) expected: \(due)")
    // The second roll-up table counts them too: its total equals the list's length.
    let membersFile = daemon.folder.appendingPathComponent("rollup-members.xlsx")
    _ = try await curl(
      ["-b", jar, "-o", membersFile.path, "\(ui.base)/dashboard.xlsx?table=rollup-members&period=2026-Q3"])
    let membersSheet = try Self.sheet(membersFile)
    let column = try #require(membersSheet.first?.firstIndex(of: "预备期满待转正"))
    #expect(membersSheet.last?.first == "合计")
    #expect(membersSheet.last?[column] == String(due.count), "\(membersSheet.last ?? [])")
    #expect(page.body.contains("党员队伍、党费、评议考核与督查") && page.body.contains("在途的组织关系转接"))

    // 三会一课 for 2026 Q3 (ended: one branch general meeting, three committee and three party
    // group meetings, one lecture owed), counted from the command line's own lists.
    func inQ3(_ row: [String: Any]) -> Bool {
      let date = row["date"] as? String ?? ""
      return date >= "2026-07-01" && date <= "2026-09-30"
    }
    let meetings = try await Tool.run("orgsync", ["list", "meeting", "--json"], home: county).out
    let lectures = try await Tool.run("orgsync", ["list", "lecture", "--json"], home: county).out
    let units = try await Tool.run("orgsync", ["list", "unit", "--json"], home: county).out
    let meetingRows = try #require(try JSONSerialization.jsonObject(with: Data(meetings.utf8)) as? [[String: Any]])
    let lectureRows = try #require(try JSONSerialization.jsonObject(with: Data(lectures.utf8)) as? [[String: Any]])
    let unitRows = try #require(try JSONSerialization.jsonObject(with: Data(units.utf8)) as? [[String: Any]])
    var behind: [String] = []
    for unit in unitRows where unit["level"] as? String == "grassroots" {
      let name = try #require(unit["name"] as? String)
      let held = meetingRows.filter { $0["unit"] as? String == name && inQ3($0) }
      func count(_ kind: String) -> Int { held.filter { $0["kind"] as? String == kind }.count }
      let lectured = lectureRows.filter { $0["unit"] as? String == name && inQ3($0) }.count
      if count("branch-general") < 1 || count("branch-committee") < 3 || count("party-group") < 3 || lectured < 1 {
        behind.append(name)
      }
    }
    #expect(!behind.isEmpty, "the sample has branches behind")
    let lifeFile = daemon.folder.appendingPathComponent("life.xlsx")
    _ = try await curl([
      "-b", jar, "-o", lifeFile.path, "\(ui.base)/dashboard.xlsx?table=organisational-life&period=2026-Q3",
    ])
    let lifeRows = try Self.sheet(lifeFile)
    #expect(lifeRows.first == ["单位", "支部党员大会", "支委会", "党小组会", "党课"])
    #expect(lifeRows.dropFirst().map { $0[0] }.sorted() == behind.sorted(), "behind: \(behind)")

    // The command line names the same people and branches as the page's workbooks.
    let lists = try await Tool.run("orgsync", ["lists", "--period", "2026-Q3", "--json"], home: county)
    #expect(lists.status == 0, "\(lists.err)")
    let parsed = try #require(try JSONSerialization.jsonObject(with: Data(lists.out.utf8)) as? [[String: Any]])
    let cliConversions = try #require(parsed.first { $0["id"] as? String == "conversions" }?["rows"] as? [[String]])
    #expect(cliConversions.map { $0[0] }.sorted() == due.sorted())
    let cliLife = try #require(parsed.first { $0["id"] as? String == "organisational-life" }?["rows"] as? [[String]])
    #expect(cliLife.map { $0[0] }.sorted() == behind.sorted())
    #expect(
      Set(parsed.compactMap { $0["id"] as? String }).isSuperset(of: [
        "late", "no-lecture", "liaison", "problems", "promises", "activists",
      ]))

    // The year-end statistics for this year count the same party members as the roll-up (no
    // stage date lies after today), by the command line and on the page.
    let stats = try await Tool.run("orgsync", ["stats", "--year", "2026", "--json"], home: county)
    #expect(stats.status == 0, "\(stats.err)")
    let lines = try #require(try JSONSerialization.jsonObject(with: Data(stats.out.utf8)) as? [[String: Any]])
    let partyMembers = lines.filter { $0["table"] as? String == "党员总数" }.compactMap { $0["count"] as? Int }
      .reduce(0, +)
    let aggregate = try await Tool.run(
      "orgsync", ["aggregate", "--period", "2026-Q3", "--offline", "--json"], home: county)
    let totals = try #require(try JSONSerialization.jsonObject(with: Data(aggregate.out.utf8)) as? [[String: Any]])
    #expect(partyMembers == totals.first { $0["unit"] as? String == "total" }?["party_members"] as? Int)
    // Every figure of the roll-up has a one-line definition.
    let defined = try await Tool.run("orgsync", ["aggregate", "--definitions", "--json"], home: county)
    let definitions = try #require(try JSONSerialization.jsonObject(with: Data(defined.out.utf8)) as? [[String: Any]])
    let keys = Set(try #require(totals.first).keys)
    let columns = Set(
      definitions.compactMap { $0["column"] as? String }.map { $0.replacingOccurrences(of: " ", with: "_") })
    #expect(columns == keys, "defined: \(columns.sorted()) figures: \(keys.sorted())")
    #expect(definitions.allSatisfy { !($0["definition"] as? String ?? "").isEmpty })
    // … and docs/ARCHITECTURE.md carries the same line for each.
    let architecture = try String(
      contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
    for item in definitions {
      let line = "| `\(item["column"] as? String ?? "")` | \(item["definition"] as? String ?? "") |"
      #expect(architecture.contains(line), "docs/ARCHITECTURE.md lacks: \(line)")
    }
    let genders = lines.filter { $0["table"] as? String == "性别" }.compactMap { $0["count"] as? Int }.reduce(0, +)
    #expect(genders == partyMembers, "every table adds up to the members counted")
    let statsPage = try await curl(["-b", jar, "\(ui.base)/stats?year=2026"])
    #expect(statsPage.status == 200 && statsPage.body.contains("2026年党内统计"))
    let statsFile = daemon.folder.appendingPathComponent("stats.xlsx")
    _ = try await curl(["-b", jar, "-o", statsFile.path, "\(ui.base)/stats.xlsx?year=2026"])
    #expect(try Self.sheet(statsFile).count == lines.count + 1, "the workbook holds every line")

    // The roll-up table itself: numbers stay numbers, the last row is the total.
    let whole = daemon.folder.appendingPathComponent("rollup.xlsx")
    _ = try await curl(["-b", jar, "-o", whole.path, "\(ui.base)/dashboard.xlsx?table=rollup&period=2026-Q3"])
    let table = try Self.sheet(whole)
    #expect(table.first?.first == "单位" && table.last?.first == "合计", "\(table.first ?? []) … \(table.last ?? [])")
    #expect(try await curl(["-b", jar, "\(ui.base)/dashboard.xlsx?table=nonsense"]).status == 404)
  }
}

@Suite("Lists in the web app")
struct ListFilterTests {
  @Test("a list narrows by status, date range and unit to what the command line counts, a page at a time")
  func filters() async throws {
    let (daemon, _, county) = try await WebAppTests.county()
    defer { withExtendedLifetime(daemon) {} }  // its folder holds the county's data
    func listed(_ type: String) async throws -> [[String: Any]] {
      let out = try await Tool.run("orgsync", ["list", type, "--json"], home: county).out
      return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
    }
    let ui = try await WebUI(home: county)
    let jar = county.appendingPathComponent("cookies").path
    _ = try await curl(["-c", jar, "-L", ui.address])
    func total(_ path: String) async throws -> Int? {
      let page = try await curl(["-b", jar, ui.base + path])
      #expect(page.status == 200, "\(path)")
      guard let range = page.body.range(of: #"共 [0-9]+ 条"#, options: .regularExpression) else { return nil }
      return Int(page.body[range].dropFirst(2).dropLast(2))
    }

    let members = try await listed("member")
    #expect(try await total("/records/member") == members.count)
    let probationary = members.filter { $0["status"] as? String == "probationary" }.count
    #expect(probationary > 0)
    #expect(try await total("/records/member?status=probationary") == probationary)

    let meetings = try await listed("meeting")
    let inQ3 = meetings.filter {
      ($0["date"] as? String ?? "") >= "2026-07-01" && ($0["date"] as? String ?? "") <= "2026-09-30"
    }
    #expect(!inQ3.isEmpty && inQ3.count < meetings.count)
    #expect(try await total("/records/meeting?from=2026-07-01&to=2026-09-30") == inQ3.count)

    // One village of the county: its members only.
    let units = try await listed("unit")
    let village = try #require(units.first { $0["code"] as? String == "430521-100-001" })
    let villageName = try #require(village["name"] as? String)
    let own = members.filter { $0["unit"] as? String == villageName }.count
    #expect(own > 0 && own < members.count)
    #expect(try await total("/records/member?unit=\(try #require(village["id"] as? String))") == own)

    // Pages: 50 rows each, the second differs from the first, the last holds the rest.
    #expect(meetings.count > 100, "enough meetings for three pages")
    let first = try await curl(["-b", jar, ui.base + "/records/meeting"]).body
    let second = try await curl(["-b", jar, ui.base + "/records/meeting?page=2"]).body
    let rows = { (body: String) in body.components(separatedBy: "<a href=\"/record/").count - 1 }
    #expect(rows(first) == 50 && rows(second) == 50)
    #expect(first != second)
    // A page number typed into the address bar, however large, is a page past the end.
    let huge = try await curl(["-b", jar, ui.base + "/records/meeting?page=9223372036854775807"])
    #expect(huge.status == 200 && rows(huge.body) == 0)
    let last = (meetings.count + 49) / 50
    let tail = try await curl(["-b", jar, ui.base + "/records/meeting?page=\(last)"]).body
    #expect(rows(tail) == meetings.count - 50 * (last - 1))
  }
}

/// Reads `<row>`s of inline-string and number cells.
final class SheetReader: NSObject, XMLParserDelegate {
  var rows: [[String]] = []
  var text: String?

  func parser(
    _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
    attributes: [String: String] = [:]
  ) {
    if name == "row" { rows.append([]) }
    if name == "t" || name == "v" { text = "" }
  }

  func parser(_ parser: XMLParser, foundCharacters string: String) { text? += string }

  func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
    if name == "t" || name == "v", let value = text, !rows.isEmpty {
      rows[rows.count - 1].append(value)
      text = nil
    }
  }
}

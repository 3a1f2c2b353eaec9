import Foundation
import Logging
import OrgSyncAPI
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncServer
import Testing

final class LogLines: LogHandler, @unchecked Sendable {
  private let lock = NSLock()
  private var lines: [String] = []
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .info

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let fields = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
    lock.withLock { lines.append("\(event.message) \(fields)") }
  }

  var text: [String] { lock.withLock { lines } }
}

@Suite("Personal data by role")
struct PersonalDataTests {
  /// A 太平村 member with a phone, a birth date, a note; and a named opinion.
  static func people(_ county: County) async throws -> (member: Orgsync_V1_Mutation, opinion: Orgsync_V1_Mutation) {
    var body = member("刘秀英")
    body.member.phone = "13807391234"
    body.member.note = "家中有病人，需常探望"
    let m = create(body, unit: county.taiping)
    try await county.push(m, as: county.taipingBranch)
    var opinion = Orgsync_V1_RecordBody()
    opinion.opinion.source = .visit
    opinion.opinion.content = "村道路灯坏了三盏"
    opinion.opinion.date = CalendarDate.make(2026, 10, 8)
    opinion.opinion.category = .livelihood
    opinion.opinion.respondent = "王大爷"
    let o = create(opinion, unit: county.taiping)
    try await county.push(o, as: county.taipingBranch)
    return (m, o)
  }

  @Test(
    "the branch receives its people whole; the county device gets names and status, not phones, birth dates, notes or who spoke"
  )
  func byRole() async throws {
    let county = try await County()
    let lines = LogLines()
    let logger = Logger(label: "test") { _ in lines }
    let shared = FairShareStore(county.store)
    try await withRPCServer(
      configuration: .init(authenticator: DeviceAuthenticator(store: shared)),
      services: [SyncService(store: shared, logger: logger), EnrollmentService(store: shared)]
    ) { _, address in
      let port = address.port!
      let people = try await Self.people(county)
      let (village, _) = try await enrolledClient(county, port: port, unit: county.taiping, role: .branch)
      let (countyDevice, enrolledCounty) = try await enrolledClient(
        county, port: port, unit: county.county, role: .committee)

      func pulled(_ client: RPCClient) async throws -> [Data: Orgsync_V1_Record] {
        try await client.serverStreaming(SyncAPI.pull, Orgsync_V1_PullRequest()) { pages in
          var records: [Data: Orgsync_V1_Record] = [:]
          for try await page in pages { for change in page.changes { records[change.record.id] = change.record } }
          return records
        }
      }
      let own = try await pulled(village)
      #expect(own[people.member.recordID]?.body.member.phone == "13807391234")
      #expect(own[people.member.recordID]?.body.member.note == "家中有病人，需常探望")
      #expect(own[people.opinion.recordID]?.body.opinion.respondent == "王大爷")

      let above = try await pulled(countyDevice)
      let seen = try #require(above[people.member.recordID]?.body.member)
      #expect(seen.name == "刘秀英")
      #expect(seen.status == .full)
      #expect(seen.phone.isEmpty && seen.note.isEmpty && !seen.hasBirthDate)
      #expect(above[people.opinion.recordID]?.body.opinion.respondent == "")
      #expect(above[people.opinion.recordID]?.body.opinion.content == "村道路灯坏了三盏")

      // Fetch (verify and repair) says the same.
      var fetch = Orgsync_V1_FetchRequest()
      fetch.ids = [people.member.recordID]
      let fetched = try await countyDevice.unary(SyncAPI.fetch, fetch).records
      #expect(fetched.first?.body.member.phone == "")

      // The server keeps the whole record.
      let stored = try await county.store.record(id: Array(people.member.recordID), actor: county.taipingBranch)
      #expect(stored?.body.member.phone == "13807391234")

      // Its log says who received which personal fields — never a value.
      let countyLog = RecordID.short(Array(enrolledCounty.deviceID))
      let trail = lines.text.filter { $0.contains("personal fields served") }
      #expect(trail.contains { $0.contains("member.phone×1") }, "the branch device received the phone: \(trail)")
      #expect(
        trail.contains {
          $0.contains(countyLog.suffix(8)) && $0.contains("member.name×1") && !$0.contains("member.phone")
        },
        "\(trail)")
      #expect(lines.text.allSatisfy { !$0.contains("13807391234") && !$0.contains("刘秀英") && !$0.contains("王大爷") })
      await village.close()
      await countyDevice.close()
    }
  }
}

import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

@Suite("Retention of deleted members' personal data")
struct RetentionTests {
  @Test(
    "a member deleted more than the retention period ago keeps status and dates but loses name, phone and birth date")
  func purge() async throws {
    let clock = TestClock()
    let county = try await County(clock: { clock.now() })
    func deletion(of m: Orgsync_V1_Mutation) -> Orgsync_V1_Mutation {
      var d = edit(Array(m.recordID), unit: county.taiping, base: 1, fields: [], m.body)
      d.delete = true
      return d
    }
    var old = member("赵铁柱")
    old.member.phone = "13807390001"
    old.member.duesCategory = .salaried
    old.member.duesBaseFen = 420_000  // income: personal
    old.member.fullMemberOn = CalendarDate.make(1998, 7, 1)
    let gone = create(old, unit: county.taiping)
    try await county.push(gone, as: county.taipingBranch)
    #expect(try await county.push(deletion(of: gone), as: county.taipingBranch).outcome == .applied)

    clock.advance(100 * 86_400)
    let recent = create(member("钱小梅"), unit: county.taiping)
    try await county.push(recent, as: county.taipingBranch)
    try await county.push(deletion(of: recent), as: county.taipingBranch)
    let kept = create(member("孙大勇"), unit: county.taiping)
    try await county.push(kept, as: county.taipingBranch)

    clock.advance(100 * 86_400)  // the first deletion is 200 days old, the second 100
    let cutoff = Int64(clock.now().timeIntervalSince1970 * 1000) - 180 * 86_400_000
    #expect(try await county.store.purgeDeletedPersonalData(before: cutoff) == 1)
    #expect(try await county.store.purgeDeletedPersonalData(before: cutoff) == 0, "once is enough")

    func stored(_ m: Orgsync_V1_Mutation) async throws -> Orgsync_V1_Member? {
      try await county.store.records(ids: [Array(m.recordID)], actor: county.taipingBranch).first?.body.member
    }
    let purged = try #require(try await stored(gone))
    #expect(purged.name.isEmpty && purged.phone.isEmpty && !purged.hasBirthDate && purged.duesBaseFen == 0)
    #expect(purged.status == .full && purged.fullMemberOn == CalendarDate.make(1998, 7, 1) && purged.gender == .male)
    #expect(try await stored(recent)?.name == "钱小梅", "deleted 100 days ago: still within the period")
    #expect(try await stored(kept)?.name == "孙大勇", "a live member is never touched")
  }
}

import Foundation
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import Testing

/// A record's place follows one rule: an edit never moves a record; a stale edit applies where
/// the record is now, or — when its author may not edit there — is kept in a conflict both
/// units see, never refused for a move nobody made.
@Suite("Moves and stale edits")
struct MoveTests {
  @Test("a stale edit by a device with rights over both units applies where the record is now, never moving it back")
  func staleEditNeverMovesBack() async throws {
    let server = try await TestServer()
    let taiping = try await server.device(unit: server.taiping, role: .branch)
    let township = try await server.device(unit: server.lianqiao, role: .committee)
    let townshipClerk = try await server.device(unit: server.lianqiao, role: .branch)
    let xinmin = try await server.device(unit: server.xinmin, role: .branch)
    let member = try taiping.replica.create(memberBody("郑凯"), unitID: server.taiping)
    _ = try await taiping.engine.sync()
    _ = try await township.engine.sync()
    _ = try await townshipClerk.engine.sync()
    // The township moves the member; its other PC, not yet told, edits the note.
    try township.replica.move(Array(member.recordID), to: server.xinmin)
    _ = try await township.engine.sync()
    var note = memberBody("郑凯")
    note.member.note = "外出务工"
    try townshipClerk.replica.update(Array(member.recordID), fields: ["note"], from: note)
    let report = try await townshipClerk.engine.sync()
    #expect(report.rejected == 0)
    let stored = try await server.store.record(id: Array(member.recordID), actor: xinmin.actor)
    #expect(stored?.unitID == Data(server.xinmin), "the move stands")
    #expect(stored?.body.member.note == "外出务工", "and so does the edit")
    #expect(try townshipClerk.replica.record(id: Array(member.recordID))?.unitID == server.xinmin)
    // Both villages hear of the crossing.
    _ = try await xinmin.engine.sync()
    _ = try await taiping.engine.sync()
    for device in [taiping, xinmin] {
      #expect(try device.replica.conflicts().contains { $0.kind == .moveVsEdit })
    }
  }

  @Test(
    "a stale edit by the branch the member left: no refusal, the typed value kept in a conflict both villages see, and the new village can apply it"
  )
  func staleEditByTheOldBranch() async throws {
    let server = try await TestServer()
    let taiping = try await server.device(unit: server.taiping, role: .branch)
    let xinmin = try await server.device(unit: server.xinmin, role: .branch)
    let township = try await server.device(unit: server.lianqiao, role: .committee)
    let member = try taiping.replica.create(memberBody("郑凯"), unitID: server.taiping)
    _ = try await taiping.engine.sync()
    _ = try await township.engine.sync()
    try township.replica.move(Array(member.recordID), to: server.xinmin)
    _ = try await township.engine.sync()
    // Taiping's secretary, offline since before the move, records a new phone number.
    var phone = memberBody("郑凯")
    phone.member.phone = "13807390003"
    try taiping.replica.update(Array(member.recordID), fields: ["phone"], from: phone)
    let report = try await taiping.engine.sync()
    #expect(report.rejected == 0, "nobody asked to move anything")
    #expect(try taiping.replica.rejected().isEmpty)
    let stored = try await server.store.record(id: Array(member.recordID), actor: xinmin.actor)
    #expect(stored?.unitID == Data(server.xinmin))
    #expect(stored?.body.member.phone == "", "not applied: the old branch may not edit it where it is now")
    let told = try #require(try taiping.replica.conflicts().first { $0.kind == .moveVsEdit })
    #expect(told.loser.member.phone == "13807390003", "the typed value is kept, on the PC that typed it")
    // The new village sees it too, and keeps the value.
    _ = try await xinmin.engine.sync()
    let conflict = try #require(try xinmin.replica.conflicts().first { $0.kind == .moveVsEdit })
    #expect(conflict.loser.member.phone == "13807390003")
    try xinmin.replica.resolve(conflictID: Array(conflict.id), .keepLost)
    _ = try await xinmin.engine.sync()
    let after = try await server.store.record(id: Array(member.recordID), actor: xinmin.actor)
    #expect(after?.body.member.phone == "13807390003")
    #expect(after?.unitID == Data(server.xinmin))
  }
}

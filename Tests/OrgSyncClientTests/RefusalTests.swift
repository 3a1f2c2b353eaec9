import Foundation
import OrgSyncCore
import OrgSyncProto
import Testing

@testable import OrgSyncClient

/// What a user typed is never silently dropped: what the server would certainly refuse is
/// refused on the device at once; what only the server can refuse is kept with its values.
@Suite("Refusals keep what was typed")
struct RefusalTests {
  @Test("the device refuses at once, with the server's words, what the server would refuse; nothing is queued")
  func refusedOnDevice() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let member = try branch.replica.create(memberBody("石磊"), unitID: server.taiping)
    let report = try branch.replica.create(reportBody(.submitted), unitID: server.taiping)
    _ = try await branch.engine.sync()
    _ = try await county.engine.sync()
    try county.replica.update(
      Array(report.recordID), fields: ["status", "reviewer_comment"], from: reportBody(.acknowledged, comment: "已閱"))
    _ = try await county.engine.sync()
    _ = try await branch.engine.sync()
    #expect(try branch.replica.record(id: Array(report.recordID))?.body.report.status == .acknowledged)
    let queued = try branch.replica.status().outbox

    // An acknowledged report is final: no edit, no delete.
    var edited = reportBody(.acknowledged)
    edited.report.title = "改過的標題"
    let edit = #expect(throws: Rejection.self) {
      try branch.replica.update(Array(report.recordID), fields: ["title"], from: edited)
    }
    #expect(edit?.code == .state)
    #expect(edit?.reason.contains("acknowledged") == true)
    #expect(throws: Rejection.self) { try branch.replica.delete(Array(report.recordID)) }
    // A branch writes nothing for the county's own level, and moves nothing out of its subtree.
    var meeting = Orgsync_V1_Meeting()
    meeting.date = CalendarDate.make(2026, 10, 9)
    meeting.kind = .regular
    meeting.topic = "縣委例會"
    var body = Orgsync_V1_RecordBody()
    body.meeting = meeting
    let foreign = #expect(throws: Rejection.self) { try branch.replica.create(body, unitID: server.county) }
    #expect(foreign?.code == .permission)
    let move = #expect(throws: Rejection.self) {
      try branch.replica.move(Array(member.recordID), to: server.shuangfeng)
    }
    #expect(move?.code == .permission)
    #expect(try branch.replica.status().outbox == queued, "nothing was queued")
    #expect(try branch.replica.record(id: Array(report.recordID))?.body.report.title == reportBody(.draft).report.title)
  }

  @Test("a refusal only the server could make keeps the typed values; retry after the report is returned applies them")
  func retryAfterRefusal() async throws {
    let server = try await TestServer()
    let office = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let report = try office.replica.create(reportBody(.draft), unitID: server.taiping)
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    // The office submits; the laptop, not yet told, rewrites the body of what it sees as a draft.
    try office.replica.update(
      Array(report.recordID), fields: ["status", "submitted_on"], from: reportBody(.submitted))
    _ = try await office.engine.sync()
    var rewrite = reportBody(.draft)
    rewrite.report.body = "補充：走訪群眾五十六戶。"
    try laptop.replica.update(Array(report.recordID), fields: ["body"], from: rewrite)
    let refused = try await laptop.engine.sync()
    #expect(refused.rejected == 1)
    let kept = try #require(try laptop.replica.rejected().first)
    #expect(kept.mutation.body.report.body == "補充：走訪群眾五十六戶。", "the typed text is kept")
    #expect(try laptop.replica.status().rejected == 1)

    // The county returns the report; the laptop retries its edit, changed a little.
    _ = try await county.engine.sync()
    try county.replica.update(
      Array(report.recordID), fields: ["status", "reviewer_comment"], from: reportBody(.returned, comment: "請補充"))
    _ = try await county.engine.sync()
    _ = try await laptop.engine.sync()
    var change = reportBody(.returned)
    change.report.body = "補充：走訪群眾五十六戶，收集意見十二條。"
    try laptop.replica.retryRejected(kept.mutationID, changes: change, fields: ["body"])
    #expect(try laptop.replica.status().rejected == 0, "the refused edit is settled")
    let retried = try await laptop.engine.sync()
    #expect(retried.rejected == 0)
    let stored = try await server.store.record(id: Array(report.recordID), actor: laptop.actor)
    #expect(stored?.body.report.body == "補充：走訪群眾五十六戶，收集意見十二條。")
    #expect(stored?.body.report.status == .returned)
  }

  @Test("a refused edit can be discarded, and then no longer counts")
  func discard() async throws {
    let server = try await TestServer()
    let device = try await server.device(unit: server.taiping, role: .branch)
    try device.replica.create(memberBody("外村人"), unitID: server.xinmin)  // before any pull: the server decides
    let report = try await device.engine.sync()
    #expect(report.rejected == 1)
    let refused = try #require(try device.replica.rejected().first)
    #expect(throws: ReplicaError.self) { try device.replica.rejectedEdit("zz") }
    #expect(try device.replica.rejectedEdit(String(RecordID.string(refused.mutationID).suffix(8))) == refused)
    try device.replica.discardRejected(refused.mutationID)
    #expect(try device.replica.status().rejected == 0)
    #expect(throws: ReplicaError.self) { try device.replica.discardRejected(refused.mutationID) }
  }
}

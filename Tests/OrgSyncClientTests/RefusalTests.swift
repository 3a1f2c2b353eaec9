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
      Array(report.recordID), fields: ["status", "reviewer_comment"], from: reportBody(.acknowledged, comment: "已阅"))
    _ = try await county.engine.sync()
    _ = try await branch.engine.sync()
    #expect(try branch.replica.record(id: Array(report.recordID))?.body.report.status == .acknowledged)
    let queued = try branch.replica.status().outbox

    // An acknowledged report is final: no edit, no delete.
    var edited = reportBody(.acknowledged)
    edited.report.title = "改过的标题"
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
    meeting.topic = "县委例会"
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
    rewrite.report.body = "补充：走访群众五十六户。"
    try laptop.replica.update(Array(report.recordID), fields: ["body"], from: rewrite)
    let refused = try await laptop.engine.sync()
    #expect(refused.rejected == 1)
    let kept = try #require(try laptop.replica.rejected().first)
    #expect(kept.mutation.body.report.body == "补充：走访群众五十六户。", "the typed text is kept")
    #expect(try laptop.replica.status().rejected == 1)

    // The county returns the report; the laptop retries its edit, changed a little.
    _ = try await county.engine.sync()
    try county.replica.update(
      Array(report.recordID), fields: ["status", "reviewer_comment"], from: reportBody(.returned, comment: "请补充"))
    _ = try await county.engine.sync()
    _ = try await laptop.engine.sync()
    var change = reportBody(.returned)
    change.report.body = "补充：走访群众五十六户，收集意见十二条。"
    try laptop.replica.retryRejected(kept.mutationID, changes: change, fields: ["body"])
    #expect(try laptop.replica.status().rejected == 0, "the refused edit is settled")
    let retried = try await laptop.engine.sync()
    #expect(retried.rejected == 0)
    let stored = try await server.store.record(id: Array(report.recordID), actor: laptop.actor)
    #expect(stored?.body.report.body == "补充：走访群众五十六户，收集意见十二条。")
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

/// Two devices change one record at once: fields merge, the same field conflicts, a delete never
/// silently drops another device's edit, and every side is told.
@Suite("Concurrent edits across devices")
struct DeleteConflictTests {
  @Test("delete vs edit: the record stays with the edit; the deleter sees the conflict and can delete again")
  func deleteAfterEdit() async throws {
    let server = try await TestServer()
    let office = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let member = try office.replica.create(memberBody("曾国强"), unitID: server.taiping)
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    // The office adds a phone number; the laptop, not yet told, deletes the member.
    var phone = memberBody("曾国强")
    phone.member.phone = "13807390001"
    try office.replica.update(Array(member.recordID), fields: ["phone"], from: phone)
    _ = try await office.engine.sync()
    try laptop.replica.delete(Array(member.recordID))
    let report = try await laptop.engine.sync()
    #expect(report.conflicts == 1)
    let kept = try await server.store.record(id: Array(member.recordID), actor: office.actor)
    #expect(kept?.deleted == false)
    #expect(kept?.body.member.phone == "13807390001", "the edit the delete had not seen is kept")
    #expect(try laptop.replica.record(id: Array(member.recordID))?.body.member.phone == "13807390001")
    // Both offices and the county see it.
    _ = try await office.engine.sync()
    _ = try await county.engine.sync()
    for device in [office, laptop, county] {
      let conflicts = try device.replica.conflicts()
      #expect(conflicts.count == 1)
      #expect(conflicts.first?.kind == .deleteVsEdit)
    }
    // The laptop insists: keep mine deletes again, now knowing of the edit.
    let conflict = try #require(try laptop.replica.conflicts().first)
    try laptop.replica.resolve(conflictID: Array(conflict.id), .keepMine)
    _ = try await laptop.engine.sync()
    #expect(try await server.store.record(id: Array(member.recordID), actor: office.actor)?.deleted != false)
    _ = try await office.engine.sync()
    #expect(try office.replica.record(id: Array(member.recordID)) == nil)
    #expect(try office.replica.conflicts().isEmpty, "resolved everywhere")
  }

  @Test("edit vs delete: an edit made without knowing of the delete brings the record back, and says so")
  func editAfterDelete() async throws {
    let server = try await TestServer()
    let office = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let opinion = try office.replica.create(opinionBody("希望村里建一个图书室"), unitID: server.taiping)
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    try office.replica.delete(Array(opinion.recordID))
    _ = try await office.engine.sync()
    var answered = opinionBody("希望村里建一个图书室")
    answered.opinion.content = "希望村里建一个图书室（已报镇里，明年春天动工）"
    try laptop.replica.update(Array(opinion.recordID), fields: ["content"], from: answered)
    let report = try await laptop.engine.sync()
    #expect(report.rejected == 0, "not refused: the typed answer is not lost")
    #expect(report.conflicts == 1)
    let back = try await server.store.record(id: Array(opinion.recordID), actor: office.actor)
    #expect(back?.deleted == false)
    #expect(back?.body.opinion.content == answered.opinion.content)
    _ = try await office.engine.sync()
    #expect(try office.replica.record(id: Array(opinion.recordID))?.body.opinion.content == answered.opinion.content)
    #expect(try office.replica.conflicts().first?.kind == .editVsDelete)
  }

  @Test("the unit above is told: the county lists a conflict the branch settled before it synced, with who settled it")
  func losingSideTold() async throws {
    let server = try await TestServer()
    let branch = try await server.device(unit: server.taiping, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let member = try branch.replica.create(memberBody("周文华"), unitID: server.taiping)
    _ = try await branch.engine.sync()
    // Two of the branch's PCs write the same note; the county, above them, must hear of it.
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    _ = try await laptop.engine.sync()
    try laptop.replica.update(
      Array(member.recordID), fields: ["note"], from: memberBody("周文华", note: "已转入县直机关"))
    try branch.replica.update(Array(member.recordID), fields: ["note"], from: memberBody("周文华", note: "外出务工"))
    _ = try await branch.engine.sync()
    _ = try await laptop.engine.sync()
    _ = try await branch.engine.sync()
    let open = try #require(try branch.replica.conflicts().first)
    // The branch settles it before the county's office has synced even once since.
    try branch.replica.resolve(conflictID: Array(open.id), .keepMine)
    _ = try await branch.engine.sync()
    #expect(try branch.replica.conflicts().isEmpty)
    _ = try await county.engine.sync()
    let seen = try county.replica.conflicts(includeResolved: true)
    #expect(seen.count == 1, "the county lists the conflict although it was settled before it synced")
    #expect(seen.first?.status == .resolved)
    #expect(seen.first?.resolvedByUnitID == Data(server.taiping))
    #expect(seen.first?.resolvedAt ?? 0 > 0)
  }

  @Test("two devices, different fields of one record: merged silently, no conflict anywhere")
  func differentFieldsMerge() async throws {
    let server = try await TestServer()
    let office = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let member = try office.replica.create(memberBody("魏红"), unitID: server.taiping)
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    var phone = memberBody("魏红")
    phone.member.phone = "13807390002"
    try office.replica.update(Array(member.recordID), fields: ["phone"], from: phone)
    try laptop.replica.update(Array(member.recordID), fields: ["note"], from: memberBody("魏红", note: "村会计"))
    _ = try await office.engine.sync()
    let report = try await laptop.engine.sync()
    #expect(report.conflicts == 0)
    _ = try await office.engine.sync()
    for device in [office, laptop] {
      let seen = try device.replica.record(id: Array(member.recordID))?.body.member
      #expect(seen?.phone == "13807390002" && seen?.note == "村会计")
      #expect(try device.replica.conflicts(includeResolved: true).isEmpty)
    }
  }

  @Test("two devices, the same field: one value kept, the other kept in a conflict both devices list")
  func sameFieldConflict() async throws {
    let server = try await TestServer()
    let office = try await server.device(unit: server.taiping, role: .branch)
    let laptop = try await server.device(unit: server.taiping, role: .branch)
    let member = try office.replica.create(memberBody("蒋平"), unitID: server.taiping)
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    try office.replica.update(Array(member.recordID), fields: ["note"], from: memberBody("蒋平", note: "外出务工"))
    try laptop.replica.update(Array(member.recordID), fields: ["note"], from: memberBody("蒋平", note: "在村务农"))
    _ = try await office.engine.sync()
    _ = try await laptop.engine.sync()
    _ = try await office.engine.sync()
    let kept = try await server.store.record(id: Array(member.recordID), actor: office.actor)?.body.member.note
    for device in [office, laptop] {
      let conflict = try #require(try device.replica.conflicts().first)
      #expect(conflict.kind == .fields)
      #expect(Set([conflict.winner.member.note, conflict.loser.member.note]) == ["外出务工", "在村务农"])
      #expect(conflict.winner.member.note == kept)
      #expect(try device.replica.record(id: Array(member.recordID))?.body.member.note == kept)
    }
  }

  @Test(
    "move vs edit: a transfer that had not seen a new phone number keeps both; both villages and the county are told")
  func moveVsEdit() async throws {
    let server = try await TestServer()
    let taiping = try await server.device(unit: server.taiping, role: .branch)
    let xinmin = try await server.device(unit: server.xinmin, role: .branch)
    let county = try await server.device(unit: server.county, role: .committee)
    let member = try taiping.replica.create(memberBody("郑凯"), unitID: server.taiping)
    _ = try await taiping.engine.sync()
    _ = try await county.engine.sync()
    // The village records a new phone number; the county, not yet told, transfers the member.
    var phone = memberBody("郑凯")
    phone.member.phone = "13807390003"
    try taiping.replica.update(Array(member.recordID), fields: ["phone"], from: phone)
    _ = try await taiping.engine.sync()
    try county.replica.move(Array(member.recordID), to: server.xinmin)
    let report = try await county.engine.sync()
    #expect(report.conflicts >= 1)
    let stored = try await server.store.record(id: Array(member.recordID), actor: county.actor)
    #expect(stored?.unitID == Data(server.xinmin), "the move stands")
    #expect(stored?.body.member.phone == "13807390003", "and so does the edit")
    _ = try await taiping.engine.sync()
    _ = try await xinmin.engine.sync()
    for device in [taiping, xinmin] {
      #expect(try device.replica.conflicts().contains { $0.kind == .moveVsEdit && $0.fields == ["phone"] })
    }
    // The county is told too, without the phone (a personal field it does not receive).
    #expect(try county.replica.conflicts().contains { $0.kind == .moveVsEdit && $0.fields.isEmpty })
    #expect(try xinmin.replica.record(id: Array(member.recordID))?.body.member.phone == "13807390003")
  }
}

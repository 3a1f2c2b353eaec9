import Foundation
import OrgSyncCore
import OrgSyncProto
import Testing

func d(_ y: Int, _ m: Int, _ day: Int) -> Orgsync_V1_Date { CalendarDate.make(y, m, day) }

/// The development pipeline's rules, as the server applies them to a device's pushes (the
/// device runs the same `Policy` before it queues an edit).
@Suite("The development pipeline")
struct PipelineTests {

  static func body(_ change: (inout Orgsync_V1_Member) -> Void) -> Orgsync_V1_RecordBody {
    var body = member("欧阳春")
    body.member.birthDate = d(1995, 5, 1)
    change(&body.member)
    return body
  }

  /// An activist since 2025-03-01, pushed by the village.
  static func activist(_ county: County) async throws -> (id: [UInt8], body: Orgsync_V1_RecordBody) {
    let body = Self.body {
      $0.status = .activist
      $0.appliedOn = d(2024, 11, 2)
      $0.activistOn = d(2025, 3, 1)
    }
    let m = create(body, unit: county.taiping)
    #expect(try await county.push(m, as: county.taipingBranch).outcome == .applied)
    return (Array(m.recordID), body)
  }

  @Test("a new member's stage needs its date: a probationary member with no probation start is refused")
  func stageDate() async throws {
    let county = try await County()
    let result = try await county.push(
      create(Self.body { $0.status = .probationary }, unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "probation_start", "\(result.reason)")
    let full = try await county.push(
      create(Self.body { $0.status = .full }, unit: county.taiping), as: county.taipingBranch)
    #expect(full.outcome == .applied, "a full member of long standing may be entered without dates")
  }

  @Test("an activist becomes a development target only after a year, and never jumps to full")
  func activistYear() async throws {
    let county = try await County()
    let (id, before) = try await Self.activist(county)
    var early = before
    early.member.status = .developmentTarget
    early.member.developmentTargetOn = d(2025, 4, 20)  // seven weeks
    var result = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status", "development_target_on"], early),
      as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "development_target_on", "\(result.reason)")
    #expect(result.reason.contains("at least one year"))

    var jump = before
    jump.member.status = .full
    jump.member.fullMemberOn = d(2026, 3, 2)
    result = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status", "full_member_on"], jump), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "status", "\(result.reason)")

    var onTime = before
    onTime.member.status = .developmentTarget
    onTime.member.developmentTargetOn = d(2026, 3, 2)
    result = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status", "development_target_on"], onTime),
      as: county.taipingBranch)
    #expect(result.outcome == .applied, "\(result.reason)")
    let stored = try await county.store.record(id: id, actor: county.countyCommittee)
    #expect(stored?.body.member.status == .developmentTarget)
  }

  @Test("probation lasts a year, extended by one at most; a probationary member is converted, not sent back")
  func probation() async throws {
    let county = try await County()
    let base = Self.body {
      $0.status = .probationary
      $0.appliedOn = d(2023, 1, 5)
      $0.activistOn = d(2023, 4, 1)
      $0.developmentTargetOn = d(2024, 5, 1)
      $0.probationStart = d(2024, 7, 1)
    }
    let m = create(base, unit: county.taiping)
    #expect(try await county.push(m, as: county.taipingBranch).outcome == .applied)
    let id = Array(m.recordID)
    func convert(on date: Orgsync_V1_Date) async throws -> Orgsync_V1_MutationResult {
      var full = base
      full.member.status = .full
      full.member.fullMemberOn = date
      return try await county.push(
        edit(id, unit: county.taiping, base: 1, fields: ["status", "full_member_on"], full), as: county.taipingBranch)
    }
    let early = try await convert(on: d(2025, 5, 1))
    #expect(early.outcome == .rejected && early.field == "full_member_on" && early.reason.contains("one year"))
    let late = try await convert(on: d(2026, 8, 1))
    #expect(late.outcome == .rejected && late.reason.contains("extended by one year at most"), "\(late.reason)")
    var back = base
    back.member.status = .activist
    let sentBack = try await county.push(
      edit(id, unit: county.taiping, base: 1, fields: ["status"], back), as: county.taipingBranch)
    #expect(sentBack.outcome == .rejected && sentBack.field == "status")
    #expect(try await convert(on: d(2025, 7, 1)).outcome == .applied)
  }

  @Test("a record entered before the rules still takes an edit that leaves its status and dates alone")
  func oldRecords() throws {
    // Seven weeks from activist to development target, as data from before these rules holds.
    let old = Self.body {
      $0.status = .developmentTarget
      $0.activistOn = d(2025, 3, 1)
      $0.developmentTargetOn = d(2025, 4, 20)
    }.member
    var phone = old
    phone.phone = "13800000000"
    try Pipeline.check(before: old, after: phone)
    var moved = old
    moved.developmentTargetOn = d(2025, 5, 20)
    #expect(throws: Rejection.self) { try Pipeline.check(before: old, after: moved) }
  }

  @Test(
    "admission needs two full-member sponsors, the training, a quorate branch meeting voting in favour, and the approval"
  )
  func admission() async throws {
    let county = try await County()
    var sponsors: [[UInt8]] = []
    for (name, status) in [("张明", Orgsync_V1_MemberStatus.full), ("刘芳", .full), ("陈伟", .probationary)] {
      var sponsor = member(name, status: status)
      if status == .probationary { sponsor.member.probationStart = d(2026, 1, 10) }
      let m = create(sponsor, unit: county.taiping)
      #expect(try await county.push(m, as: county.taipingBranch).outcome == .applied)
      sponsors.append(Array(m.recordID))
    }
    let target = Self.body {
      $0.status = .developmentTarget
      $0.appliedOn = d(2023, 11, 2)
      $0.activistOn = d(2024, 3, 1)
      $0.developmentTargetOn = d(2025, 6, 1)
    }
    let m = create(target, unit: county.taiping)
    #expect(try await county.push(m, as: county.taipingBranch).outcome == .applied)
    let id = Array(m.recordID)
    let fields = [
      "status", "probation_start", "sponsor_ids", "training_done_on", "vote_expected", "vote_present", "votes_for",
      "approved_on",
    ]
    func admit(_ change: (inout Orgsync_V1_Member) -> Void) async throws -> Orgsync_V1_MutationResult {
      var body = target
      body.member.status = .probationary
      body.member.probationStart = d(2026, 6, 28)
      body.member.sponsorIds = [Data(sponsors[0]), Data(sponsors[1])]
      body.member.trainingDoneOn = d(2026, 5, 20)
      body.member.voteExpected = 23
      body.member.votePresent = 19
      body.member.votesFor = 18
      body.member.approvedOn = d(2026, 7, 15)
      change(&body.member)
      return try await county.push(
        edit(id, unit: county.taiping, base: 1, fields: fields, body), as: county.taipingBranch)
    }
    let oneSponsor = try await admit { $0.sponsorIds = [Data(sponsors[0])] }
    #expect(oneSponsor.outcome == .rejected && oneSponsor.field == "sponsor_ids", "\(oneSponsor.reason)")
    let probationarySponsor = try await admit { $0.sponsorIds = [Data(sponsors[0]), Data(sponsors[2])] }
    #expect(probationarySponsor.field == "sponsor_ids" && probationarySponsor.reason.contains("full member"))
    let untrained = try await admit { $0.trainingDoneOn = Orgsync_V1_Date() }
    #expect(untrained.field == "training_done_on", "\(untrained.reason)")
    let noQuorum = try await admit {
      $0.votePresent = 11  // 11 of 23 is not more than half
      $0.votesFor = 11
    }
    #expect(noQuorum.field == "vote_present", "\(noQuorum.reason)")
    let tooFew = try await admit { $0.votesFor = 11 }
    #expect(tooFew.field == "votes_for", "\(tooFew.reason)")
    let unapproved = try await admit { $0.approvedOn = Orgsync_V1_Date() }
    #expect(unapproved.field == "approved_on", "\(unapproved.reason)")
    let admitted = try await admit { _ in }
    #expect(admitted.outcome == .applied, "\(admitted.reason)")
    #expect(try await county.store.record(id: id, actor: county.countyCommittee)?.body.member.status == .probationary)
  }
}

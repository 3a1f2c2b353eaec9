import OrgSyncProto

/// The device making a change, as authentication established it.
public struct Actor: Sendable, Hashable {
  public var deviceID: [UInt8]
  public var unitID: [UInt8]
  public var role: Orgsync_V1_DeviceRole

  public init(deviceID: [UInt8], unitID: [UInt8], role: Orgsync_V1_DeviceRole) {
    self.deviceID = deviceID
    self.unitID = unitID
    self.role = role
  }
}

/// A record as the rules see it: owner and body. For an org unit record, `unitID` is the unit
/// it hangs under (its parent), so that creating or moving a unit needs rights over the parents.
public struct RecordState: Sendable {
  public var id: [UInt8]
  public var type: Orgsync_V1_RecordType
  public var unitID: [UInt8]
  public var deleted: Bool
  public var body: Orgsync_V1_RecordBody

  public init(
    id: [UInt8], type: Orgsync_V1_RecordType, unitID: [UInt8], deleted: Bool, body: Orgsync_V1_RecordBody
  ) {
    self.id = id
    self.type = type
    self.unitID = unitID
    self.deleted = deleted
    self.body = body
  }
}

/// Who may write what (docs/ARCHITECTURE.md, "Scope and rights") and the state machines of reports, problems and
/// commitments. Pure: the tree is asked through the resolver.
public struct Policy {
  let resolver: any ReferenceResolver

  public init(resolver: any ReferenceResolver) {
    self.resolver = resolver
  }

  /// Report fields a reviewing committee sets.
  static let reviewFields: Set<String> = ["status", "reviewer_unit_id", "reviewer_comment", "reviewed_on"]
  /// Org unit fields a branch may edit on its own unit.
  static let ownUnitFields: Set<String> = ["secretary", "phone", "address"]
  /// Transfer fields the receiving unit sets when it answers.
  static let transferAnswerFields: Set<String> = ["status", "answered_on", "answer_note"]

  /// Whether `actor` is on the receiving side of a transfer: the unit named by its code, or above it.
  func receives(_ actor: Actor, _ transfer: Orgsync_V1_Transfer) throws -> Bool {
    guard let destination = try resolver.unitID(code: transfer.toUnitCode) else { return false }
    return try resolver.isAncestorOrSelf(actor.unitID, of: destination)
  }

  /// Throws `.permission` unless `actor` may turn `old` into `new` (nil old: a create;
  /// `new.deleted`: a delete), changing `fields` (body field names).
  public func authorize(_ actor: Actor, old: RecordState?, new: RecordState, fields: Set<String>) throws {
    // Any device may keep the contact fields of its own unit's record.
    if new.type == .orgUnit, let old, new.id == actor.unitID, !new.deleted, old.unitID == new.unitID,
      fields.isSubset(of: Self.ownUnitFields)
    {
      return
    }
    // The receiving unit answers a transfer it cannot otherwise see into (the member is still
    // the issuing unit's).
    if new.type == .transfer, let old, !new.deleted, old.unitID == new.unitID,
      fields.isSubset(of: Self.transferAnswerFields), case .transfer(let t)? = new.body.kind, try receives(actor, t)
    {
      return
    }
    let inScopeNew = try resolver.isAncestorOrSelf(actor.unitID, of: new.unitID)
    let inScopeOld = try old.map { try resolver.isAncestorOrSelf(actor.unitID, of: $0.unitID) } ?? true
    guard inScopeNew, inScopeOld else {
      let moving = old.map { $0.unitID != new.unitID } ?? false
      throw Rejection(
        .permission,
        moving
          ? "moving this record needs rights over both the old and the new unit"
          : "this \(RecordNames.name(of: new.type)) belongs to a unit outside this device's subtree")
    }
    let ownLevel = new.unitID == actor.unitID && (old?.unitID ?? actor.unitID) == actor.unitID
    if case .transfer(let t)? = new.body.kind, t.status != .issued,
      old.map({ $0.body.transfer.status != t.status }) ?? true, actor.role != .admin, try !receives(actor, t)
    {
      throw Rejection(.permission, field: "status", "only the receiving unit accepts or returns a transfer")
    }

    switch actor.role {
    case .admin:
      return
    case .branch:
      if new.type == .orgUnit {
        throw Rejection(.permission, "a branch may edit only the contact fields of its own unit")
      }
    case .committee:
      if ownLevel, new.type != .report { return }  // its own meetings, notices, lectures…
      switch new.type {
      case .orgUnit:
        break  // units below it (their parents are in its subtree, checked above)
      case .transfer:
        break  // it sends its units' members elsewhere (the transfer is the member's unit's)
      case .inspection:
        guard case .inspection(let i)? = new.body.kind, Array(i.issuerUnitID) == actor.unitID else {
          throw Rejection(.permission, "a committee issues inspections in its own name")
        }
      case .report:
        guard new.unitID != actor.unitID else { return }  // its own report upward
        guard let old, !new.deleted, fields.isSubset(of: Self.reviewFields) else {
          throw Rejection(.permission, "a committee reviews its units' reports; it does not write them")
        }
        guard case .report(let before)? = old.body.kind, before.status == .submitted else {
          throw Rejection(.state, field: "status", "only a submitted report can be reviewed")
        }
      case .member:
        guard let old, old.unitID != new.unitID, fields.isEmpty, !new.deleted else {
          throw Rejection(.permission, "a committee moves members between its units; the branch keeps their records")
        }
      default:
        throw Rejection(
          .permission, "a committee writes at its own level; this \(RecordNames.name(of: new.type)) is a unit's own")
      }
    default:
      throw Rejection(.permission, "this device has no role")
    }
  }

  /// Throws `.state` unless the change keeps the record's state machine.
  /// `reviewer` tells whether the writer is above the owning unit (a reviewing committee).
  public func checkTransition(old: RecordState?, new: RecordState, reviewer: Bool) throws {
    switch (old?.body.kind, new.body.kind) {
    case (.report(let before)?, .report(let after)):
      try report(before: before, after: after, reviewer: reviewer, deleting: new.deleted)
    case (nil, .report(let after)):
      guard [.draft, .submitted].contains(after.status) else {
        throw Rejection(.state, field: "status", "a new report starts as a draft or submitted")
      }
    case (.problem(let before)?, .problem(let after)):
      guard after.status.rawValue >= before.status.rawValue else {
        throw Rejection(.state, field: "status", "a problem moves forward only: open → in progress → resolved")
      }
    case (.member(let before)?, .member(let after)):
      try Pipeline.check(before: before, after: after)
      if before.status == .developmentTarget, after.status == .probationary {
        try Pipeline.checkAdmission(after, resolver: resolver)
      }
    case (nil, .member(let after)):
      try Pipeline.check(before: nil, after: after)
    case (nil, .transfer(let after)):
      guard after.status == .issued else {
        throw Rejection(.state, field: "status", "a transfer starts when the letter is issued")
      }
    case (.transfer(let before)?, _):
      guard before.status == .issued else {
        throw Rejection(.state, field: "status", "an accepted or returned transfer is final; issue a new one")
      }
    case (.commitment(let before)?, .commitment(let after)):
      guard before.status == .due || before.status == after.status else {
        throw Rejection(.state, field: "status", "a fulfilled or cancelled commitment is final")
      }
    default:
      break
    }
  }

  func report(before: Orgsync_V1_Report, after: Orgsync_V1_Report, reviewer: Bool, deleting: Bool) throws {
    if reviewer {
      guard before.status == .submitted, [.acknowledged, .returned].contains(after.status) else {
        throw Rejection(.state, field: "status", "a review acknowledges or returns a submitted report")
      }
      return
    }
    switch before.status {
    case .submitted, .acknowledged:
      throw Rejection(
        .state, field: "status",
        before.status == .submitted
          ? "the report was submitted: it is read-only until the reviewing unit returns it"
          : "the report was acknowledged and is final")
    default:
      guard !deleting || before.status == .draft else {
        throw Rejection(.state, "only a draft report can be deleted")
      }
      guard [.draft, .submitted, .returned].contains(after.status),
        after.status != .returned || before.status == .returned
      else {
        throw Rejection(.state, field: "status", "only the reviewing unit acknowledges or returns a report")
      }
    }
  }
}

/// The development of a party member (发展党员) as a state machine: 入党申请人 → 入党积极分子 →
/// 发展对象 → 预备党员 → 正式党员, one step at a time, each step with its date and its time rule
/// (docs/ARCHITECTURE.md, "The development pipeline"). Checked where a member's status or
/// stage dates change, on the device and on the server alike; a record entered before these
/// rules is not refused for an edit that leaves its status and dates alone.
public enum Pipeline {
  /// The stage order; the statuses after it (transferred out, deceased, left) end a membership.
  static let stages: [Orgsync_V1_MemberStatus] = [.applicant, .activist, .developmentTarget, .probationary, .full]
  static let stageFields: [Orgsync_V1_MemberStatus: String] = [
    .applicant: "applied_on", .activist: "activist_on", .developmentTarget: "development_target_on",
    .probationary: "probation_start", .full: "full_member_on",
  ]

  static func date(_ m: Orgsync_V1_Member, _ status: Orgsync_V1_MemberStatus) -> Orgsync_V1_Date {
    switch status {
    case .applicant: m.appliedOn
    case .activist: m.activistOn
    case .developmentTarget: m.developmentTargetOn
    case .probationary: m.probationStart
    case .full: m.fullMemberOn
    default: Orgsync_V1_Date()
    }
  }

  static func isSet(_ d: Orgsync_V1_Date) -> Bool { d.year != 0 }

  /// Whole years from `a` to `b`, by the calendar (a 29 February counts to 28 February).
  static func years(from a: Orgsync_V1_Date, to b: Orgsync_V1_Date) -> Int {
    var years = Int(b.year - a.year)
    if (b.month, b.day) < (a.month, a.day) { years -= 1 }
    return years
  }

  /// Admission as a probationary member (接收预备党员, 发展党员工作细则 第四章): two sponsors who
  /// are full members, the short-term training done, the branch general meeting quorate (more
  /// than half of the full members with a vote present) and in favour (more than half of them),
  /// and the higher committee's approval, dated from the meeting on.
  static func checkAdmission(_ m: Orgsync_V1_Member, resolver: any ReferenceResolver) throws {
    let rules = "(Detailed Rules for Recruiting Party Members)"
    guard Set(m.sponsorIds).count == 2 else {
      throw Rejection(.invalidField, field: "sponsor_ids", "admission needs two sponsors who are full members \(rules)")
    }
    for id in m.sponsorIds {
      guard let sponsor = try resolver.record(Array(id)), case .member(let s)? = sponsor.body.kind, !sponsor.deleted
      else { throw Rejection(.notFound, field: "sponsor_ids", "sponsor_ids refers to no member") }
      guard s.status == .full else {
        throw Rejection(.invalidField, field: "sponsor_ids", "a sponsor must be a full member \(rules)")
      }
    }
    guard isSet(m.trainingDoneOn), CalendarDate.compare(m.trainingDoneOn, m.probationStart) <= 0 else {
      throw Rejection(
        .invalidField, field: "training_done_on",
        "a development target completes the training before admission \(rules)")
    }
    guard m.voteExpected > 0, m.votePresent * 2 > m.voteExpected else {
      throw Rejection(
        .invalidField, field: "vote_present",
        "the branch general meeting needs more than half of its full members with a vote present \(rules)")
    }
    guard m.votesFor * 2 > m.voteExpected else {
      throw Rejection(
        .invalidField, field: "votes_for",
        "admission needs the votes of more than half of the full members who should attend \(rules)")
    }
    guard isSet(m.approvedOn), CalendarDate.compare(m.approvedOn, m.probationStart) >= 0 else {
      throw Rejection(
        .invalidField, field: "approved_on",
        "admission needs the higher committee's approval, given after the branch meeting \(rules)")
    }
  }

  public static func check(before: Orgsync_V1_Member?, after: Orgsync_V1_Member) throws {
    let from = before?.status
    let to = after.status
    let datesChanged = before.map { b in stages.contains { date(b, $0) != date(after, $0) } } ?? true
    guard from != to || datesChanged else { return }
    if from != to, let from, from != .unspecified, let index = stages.firstIndex(of: to) {
      let fromIndex = stages.firstIndex(of: from)
      if let fromIndex, fromIndex > index {
        throw Rejection(
          .state, field: "status",
          "a member does not go back a stage; a probationary member whose membership is cancelled is recorded as left")
      }
      // Forward one stage at a time; back into membership from "transferred out" (a return).
      let returning = from == .transferredOut && (to == .probationary || to == .full)
      guard returning || fromIndex == index - 1 else {
        throw Rejection(
          .state, field: "status",
          "a member moves one stage at a time: applicant → activist → development target → probationary → full"
            + " (Regulations on Recruiting Party Members)")
      }
    }
    guard let stage = stages.firstIndex(of: to) else { return }
    // The stage's own date is set (an existing full member may be entered without dates).
    if to != .full || isSet(after.probationStart), let field = stageFields[to], !isSet(date(after, to)) {
      throw Rejection(.invalidField, field: field, "\(field) is required for this status")
    }
    if stage >= 2, isSet(after.developmentTargetOn) {
      guard isSet(after.activistOn), years(from: after.activistOn, to: after.developmentTargetOn) >= 1 else {
        throw Rejection(
          .invalidField, field: "development_target_on",
          "a development target has been an activist for at least one year (Regulations on Recruiting Party Members)")
      }
    }
    if stage >= 4, isSet(after.fullMemberOn), isSet(after.probationStart) {
      let held = years(from: after.probationStart, to: after.fullMemberOn)
      guard held >= 1 else {
        throw Rejection(
          .invalidField, field: "full_member_on",
          "probation lasts one year before a member becomes full (Party Constitution)")
      }
      var longest = after.probationStart
      longest.year += 2
      guard CalendarDate.compare(after.fullMemberOn, longest) <= 0 else {
        throw Rejection(
          .invalidField, field: "full_member_on",
          "probation may be extended by one year at most (Party Constitution)")
      }
    }
  }
}

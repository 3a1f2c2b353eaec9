import Foundation
import OrgSyncProto
import SwiftProtobuf

/// Why a mutation was not applied: a machine code, the offending field and a sentence a person
/// can act on. Never contains the field's value (it may be personal data).
public struct Rejection: Error, Hashable, Sendable {
  public var code: Orgsync_V1_RejectCode
  public var field: String
  public var reason: String

  public init(_ code: Orgsync_V1_RejectCode, field: String = "", _ reason: String) {
    self.code = code
    self.field = field
    self.reason = reason
  }

  static func invalid(_ field: String, _ reason: String) -> Rejection {
    Rejection(.invalidField, field: field, reason)
  }
}

/// What validation needs to know about records a body refers to.
public struct ReferencedRecord: Sendable {
  public var type: Orgsync_V1_RecordType
  public var unitID: [UInt8]
  public var deleted: Bool
  public var body: Orgsync_V1_RecordBody

  public init(type: Orgsync_V1_RecordType, unitID: [UInt8], deleted: Bool, body: Orgsync_V1_RecordBody) {
    self.type = type
    self.unitID = unitID
    self.deleted = deleted
    self.body = body
  }
}

/// Looks up referenced records and the tree, inside the writing transaction.
public protocol ReferenceResolver {
  func record(_ id: [UInt8]) throws -> ReferencedRecord?
  /// Whether `ancestor` is `unit` or above it.
  func isAncestorOrSelf(_ ancestor: [UInt8], of unit: [UInt8]) throws -> Bool
  /// The unit with this organisation code, if this resolver knows it (a device knows only its
  /// own part of the tree; the server knows all of it).
  func unitID(code: String) throws -> [UInt8]?
}

/// Field rules for every record type: required fields, closed sets, real dates,
/// lengths, and references that exist, are of the right type and lie in the right place.
/// Runs on the record as it will be stored (after merge), so a partial edit cannot leave a
/// record that would not have passed as a whole.
public struct Validator {
  public let resolver: any ReferenceResolver
  /// Today's date in the office's calendar, for "not in the future" checks.
  public let today: Orgsync_V1_Date

  public init(resolver: any ReferenceResolver, today: Orgsync_V1_Date) {
    self.resolver = resolver
    self.today = today
  }

  public func validate(_ body: Orgsync_V1_RecordBody, unitID: [UInt8]) throws {
    switch body.kind {
    case .orgUnit(let u): try orgUnit(u, id: unitID)
    case .member(let m): try member(m)
    case .meeting(let m): try meeting(m)
    case .report(let r): try report(r, unitID: unitID)
    case .inspection(let i): try inspection(i, unitID: unitID)
    case .notice(let n): try notice(n, unitID: unitID)
    case .liaisonPoint(let l): try liaisonPoint(l, unitID: unitID)
    case .lecture(let l): try lecture(l)
    case .supportItem(let s): try supportItem(s)
    case .opinion(let o): try opinion(o)
    case .problem(let p): try problem(p)
    case .commitment(let c): try commitment(c)
    case .serviceCase(let s): try serviceCase(s)
    case .transfer(let t): try transfer(t, unitID: unitID)
    case .duesPayment(let d): try duesPayment(d)
    case .assessment(let a): try assessment(a)
    case .noticeReceipt(let r): try noticeReceipt(r, unitID: unitID)
    case nil: throw Rejection.invalid("body", "the record has no body")
    }
  }

  // MARK: Types

  func orgUnit(_ u: Orgsync_V1_OrgUnit, id: [UInt8]) throws {
    try text("code", u.code, required: true, max: 64)
    guard
      u.code.unicodeScalars.allSatisfy({
        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
      })
    else { throw Rejection.invalid("code", "the code may hold only letters, digits and '-'") }
    try text("name", u.name, required: true, max: 100)
    try known("level", u.level)
    try known("kind", u.kind)
    try text("secretary", u.secretary, max: 50)
    try text("phone", u.phone, max: 30)
    try text("address", u.address, max: 200)
    try date("founded_on", u.foundedOn, notAfterToday: true)
    try date("dissolved_on", u.dissolvedOn, notAfterToday: true)
    try order("dissolved_on", after: u.foundedOn, u.dissolvedOn)
    if !u.parentID.isEmpty {
      let parent = try reference("parent_id", u.parentID, type: .orgUnit)
      guard Array(u.parentID) != id else { throw Rejection.invalid("parent_id", "a unit cannot be its own parent") }
      if case .orgUnit(let p)? = parent.body.kind, p.level.rawValue >= u.level.rawValue, u.level != .grassroots {
        throw Rejection.invalid("level", "a unit must sit below its parent's level")
      }
    }
  }

  func member(_ m: Orgsync_V1_Member) throws {
    try text("name", m.name, required: true, max: 50)
    try optionalKnown("gender", m.gender)
    try date("birth_date", m.birthDate, notAfterToday: true)
    try text("ethnicity", m.ethnicity, max: 20)
    try optionalKnown("education", m.education)
    try text("occupation", m.occupation, max: 50)
    try text("phone", m.phone, max: 30)
    try known("status", m.status)
    try text("cadre_title", m.cadreTitle, max: 50)
    for (name, value) in [
      ("applied_on", m.appliedOn), ("activist_on", m.activistOn), ("development_target_on", m.developmentTargetOn),
      ("probation_start", m.probationStart), ("full_member_on", m.fullMemberOn),
    ] {
      try date(name, value, notAfterToday: true)
    }
    try text("note", m.note, max: 2000)
    guard m.sponsorIds.count <= 2, Set(m.sponsorIds).count == m.sponsorIds.count else {
      throw Rejection.invalid("sponsor_ids", "a member has two different sponsors")
    }
    for id in m.sponsorIds { _ = try reference("sponsor_ids", id, type: .member) }
    try date("training_done_on", m.trainingDoneOn, notAfterToday: true)
    try date("ended_on", m.endedOn, notAfterToday: true)
    if isSet(m.endedOn), ![.deceased, .left, .transferredOut].contains(m.status) {
      throw Rejection.invalid("ended_on", "ended_on is for a membership that ended (deceased, left, transferred out)")
    }
    try date("approved_on", m.approvedOn, notAfterToday: true)
    try nonNegative("vote_expected", Int64(m.voteExpected))
    try nonNegative("vote_present", Int64(m.votePresent))
    try nonNegative("votes_for", Int64(m.votesFor))
    guard m.votePresent <= m.voteExpected || m.voteExpected == 0 else {
      throw Rejection.invalid("vote_present", "more members attended than had a vote")
    }
    guard m.votesFor <= m.votePresent || m.votePresent == 0 else {
      throw Rejection.invalid("votes_for", "more votes for than members present")
    }
    try optionalKnown("occupation_code", m.occupationCode)
    try optionalKnown("dues_category", m.duesCategory)
    try nonNegative("dues_base_fen", m.duesBaseFen)
    if m.duesCategory == .farmer, m.duesBaseFen != 0, !(20...100).contains(m.duesBaseFen) {
      throw Rejection.invalid("dues_base_fen", "a farmer pays 0.2 to 1 yuan a month (20 to 100 fen)")
    }
    if !m.ethnicity.isEmpty, Ethnicity.code(of: m.ethnicity) == nil {
      throw Rejection.invalid("ethnicity", "ethnicity is not one of the 56 nationalities (e.g. 汉族, 土家族)")
    }
    if isSet(m.birthDate), isSet(m.appliedOn), years(from: m.birthDate, to: m.appliedOn) < 18 {
      throw Rejection.invalid("applied_on", "an applicant must be at least 18 years old when applying")
    }
    try order("full_member_on", after: m.probationStart, m.fullMemberOn)
    try order("probation_start", after: m.developmentTargetOn, m.probationStart)
    try order("development_target_on", after: m.activistOn, m.developmentTargetOn)
    try order("activist_on", after: m.appliedOn, m.activistOn)
    if m.status == .full, !isSet(m.fullMemberOn), isSet(m.probationStart) {
      throw Rejection.invalid("full_member_on", "a full member needs the date of full membership")
    }
  }

  func meeting(_ m: Orgsync_V1_Meeting) throws {
    try date("date", m.date, required: true, notAfterToday: true)  // recorded once held
    try known("kind", m.kind)
    try text("topic", m.topic, required: true, max: 200)
    try nonNegative("attendee_count", Int64(m.attendeeCount))
    try nonNegative("expected_count", Int64(m.expectedCount))
    try text("decisions", m.decisions, max: 20_000)
    try text("location", m.location, max: 200)
    for id in m.attendeeIds { _ = try reference("attendee_ids", id, type: .member) }
  }

  func report(_ r: Orgsync_V1_Report, unitID: [UInt8]) throws {
    guard (2000...2100).contains(r.year) else {
      throw Rejection.invalid("year", "the year must be between 2000 and 2100")
    }
    try known("period", r.period)
    try known("kind", r.kind)
    let fits: Bool =
      switch r.kind {
      case .quarterlyCheck: [.q1, .q2, .q3, .q4].contains(r.period)
      case .halfYearSummary: [.h1, .h2].contains(r.period)
      case .yearEndSummary: r.period == .year
      default: true
      }
    guard fits else { throw Rejection.invalid("period", "the period does not match the kind of report") }
    try text("title", r.title, required: true, max: 200)
    try text("body", r.body, max: 100_000)
    try known("status", r.status)
    try date("submitted_on", r.submittedOn, notAfterToday: true)
    try date("reviewed_on", r.reviewedOn, notAfterToday: true)
    try text("reviewer_comment", r.reviewerComment, max: 5000)
    if r.status != .draft, !isSet(r.submittedOn) {
      throw Rejection.invalid("submitted_on", "a submitted report needs its submission date")
    }
    if r.status == .returned, r.reviewerComment.isEmpty {
      throw Rejection.invalid("reviewer_comment", "a returned report needs a comment saying why")
    }
    if !r.reviewerUnitID.isEmpty {
      _ = try reference("reviewer_unit_id", r.reviewerUnitID, type: .orgUnit)
      guard try resolver.isAncestorOrSelf(Array(r.reviewerUnitID), of: unitID), Array(r.reviewerUnitID) != unitID else {
        throw Rejection.invalid("reviewer_unit_id", "the reviewer must be a unit above the reporting one")
      }
    }
  }

  func inspection(_ i: Orgsync_V1_Inspection, unitID: [UInt8]) throws {
    _ = try reference("issuer_unit_id", i.issuerUnitID, type: .orgUnit, required: true)
    guard try resolver.isAncestorOrSelf(Array(i.issuerUnitID), of: unitID), Array(i.issuerUnitID) != unitID else {
      throw Rejection.invalid("issuer_unit_id", "an inspection is issued by a unit above the inspected one")
    }
    try date("date", i.date, required: true)
    try text("findings", i.findings, required: true, max: 20_000)
    try date("follow_up_due", i.followUpDue)
    try date("follow_up_done", i.followUpDone, notAfterToday: true)
    try text("follow_up_note", i.followUpNote, max: 5000)
  }

  func notice(_ n: Orgsync_V1_Notice, unitID: [UInt8]) throws {
    _ = try reference("audience_root_id", n.audienceRootID, type: .orgUnit, required: true)
    guard try resolver.isAncestorOrSelf(unitID, of: Array(n.audienceRootID)) else {
      throw Rejection.invalid("audience_root_id", "a notice goes to the issuer's own subtree")
    }
    try text("title", n.title, required: true, max: 200)
    try text("body", n.body, required: true, max: 100_000)
    try date("issued_on", n.issuedOn, required: true)
  }

  func liaisonPoint(_ l: Orgsync_V1_LiaisonPoint, unitID: [UInt8]) throws {
    let cadre = try reference("cadre_id", l.cadreID, type: .member, required: true)
    if case .member(let m)? = cadre.body.kind, !m.leadingCadre {
      throw Rejection.invalid("cadre_id", "liaison points are set up by leading cadres")
    }
    try text("cadre_name", l.cadreName, max: 50)
    try date("since", l.since, required: true)
    try date("until", l.until)
    try order("until", after: l.since, l.until)
    try text("note", l.note, max: 2000)
    if !l.villageUnitID.isEmpty {
      _ = try reference("village_unit_id", l.villageUnitID, type: .orgUnit)
      guard try resolver.isAncestorOrSelf(unitID, of: Array(l.villageUnitID)) else {
        throw Rejection.invalid("village_unit_id", "the village lies outside the recording committee's subtree")
      }
    }
    for id in l.problemIds { _ = try reference("problem_ids", id, type: .problem) }
  }

  func lecture(_ l: Orgsync_V1_Lecture) throws {
    if l.speakerID.isEmpty {
      try text("speaker_name", l.speakerName, required: true, max: 50)
    } else {
      _ = try reference("speaker_id", l.speakerID, type: .member)
    }
    try text("speaker_name", l.speakerName, max: 50)
    // A lecture is recorded once given: a future date would take a cadre off the "no lecture"
    // list before the lecture happened.
    try date("date", l.date, required: true, notAfterToday: true)
    try text("topic", l.topic, required: true, max: 200)
    try nonNegative("audience_size", Int64(l.audienceSize))
    try known("kind", l.kind)
  }

  func supportItem(_ s: Orgsync_V1_SupportItem) throws {
    try text("what", s.what, required: true, max: 200)
    try nonNegative("amount_fen", s.amountFen)
    try nonNegative("quantity", Int64(s.quantity))
    try date("date", s.date, required: true)
    try text("provider", s.provider, max: 100)
    try text("note", s.note, max: 2000)
  }

  func opinion(_ o: Orgsync_V1_Opinion) throws {
    try known("source", o.source)
    try text("content", o.content, required: true, max: 5000)
    try date("date", o.date, required: true, notAfterToday: true)
    try known("category", o.category)
    try text("respondent", o.respondent, max: 50)
  }

  func problem(_ p: Orgsync_V1_Problem) throws {
    try known("category", p.category)
    try text("title", p.title, required: true, max: 200)
    try text("description", p.description_p, max: 20_000)
    for id in p.opinionIds { _ = try reference("opinion_ids", id, type: .opinion) }
    try known("status", p.status)
    try date("identified_on", p.identifiedOn, required: true)
    try date("resolved_on", p.resolvedOn, notAfterToday: true)
    try order("resolved_on", after: p.identifiedOn, p.resolvedOn)
    try text("resolution", p.resolution, max: 20_000)
    if p.status == .resolved {
      guard isSet(p.resolvedOn) else { throw Rejection.invalid("resolved_on", "a resolved problem needs its date") }
      guard !p.resolution.isEmpty else { throw Rejection.invalid("resolution", "say how the problem was resolved") }
    }
  }

  func commitment(_ c: Orgsync_V1_Commitment) throws {
    if !c.memberID.isEmpty { _ = try reference("member_id", c.memberID, type: .member) }
    try text("content", c.content, required: true, max: 2000)
    try date("promised_on", c.promisedOn, required: true)
    try date("due", c.due, required: true)
    try order("due", after: c.promisedOn, c.due)
    try date("fulfilled_on", c.fulfilledOn, notAfterToday: true)
    try text("evidence", c.evidence, max: 5000)
    try known("status", c.status)
    if c.status == .fulfilled, !isSet(c.fulfilledOn) {
      throw Rejection.invalid("fulfilled_on", "a fulfilled commitment needs the date it was fulfilled")
    }
  }

  func serviceCase(_ s: Orgsync_V1_ServiceCase) throws {
    try text("what", s.what, required: true, max: 500)
    try nonNegative("beneficiaries", Int64(s.beneficiaries))
    try date("date", s.date, required: true)
    try nonNegative("cost_fen", s.costFen)
    try optionalKnown("category", s.category)
    if !s.problemID.isEmpty { _ = try reference("problem_id", s.problemID, type: .problem) }
  }

  // MARK: Rules

  func text(_ field: String, _ value: String, required: Bool = false, max: Int) throws {
    let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
    if required, trimmed.isEmpty { throw Rejection.invalid(field, "\(field) is required") }
    if value.count > max { throw Rejection.invalid(field, "\(field) is longer than \(max) characters") }
    if value.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) {
      throw Rejection.invalid(field, "\(field) contains control characters")
    }
  }

  func known<E: Enum & CaseIterable>(_ field: String, _ value: E) throws {
    guard value.rawValue != 0 else { throw Rejection.invalid(field, "\(field) is required") }
    try optionalKnown(field, value)
  }

  /// Values outside the closed set arrive as `UNRECOGNIZED(n)`, which `allCases` leaves out.
  func optionalKnown<E: Enum & CaseIterable>(_ field: String, _ value: E) throws {
    guard E.allCases.contains(value) else {
      throw Rejection.invalid(field, "\(field) has an unknown value \(value.rawValue)")
    }
  }

  func nonNegative(_ field: String, _ value: Int64) throws {
    if value < 0 { throw Rejection.invalid(field, "\(field) cannot be negative") }
  }

  func isSet(_ d: Orgsync_V1_Date) -> Bool { d.year != 0 || d.month != 0 || d.day != 0 }

  func date(_ field: String, _ d: Orgsync_V1_Date, required: Bool = false, notAfterToday: Bool = false) throws {
    guard isSet(d) else {
      if required { throw Rejection.invalid(field, "\(field) is required") }
      return
    }
    guard CalendarDate.isValid(d) else { throw Rejection.invalid(field, "\(field) is not a real calendar date") }
    if notAfterToday, CalendarDate.compare(d, today) > 0 {
      throw Rejection.invalid(field, "\(field) is in the future")
    }
  }

  func order(_ field: String, after earlier: Orgsync_V1_Date, _ later: Orgsync_V1_Date) throws {
    if isSet(earlier), isSet(later), CalendarDate.compare(later, earlier) < 0 {
      throw Rejection.invalid(field, "\(field) comes before the date it follows")
    }
  }

  func years(from a: Orgsync_V1_Date, to b: Orgsync_V1_Date) -> Int {
    var years = Int(b.year - a.year)
    if (b.month, b.day) < (a.month, a.day) { years -= 1 }
    return years
  }

  func reference(
    _ field: String, _ id: Data, type: Orgsync_V1_RecordType, required: Bool = false
  ) throws -> ReferencedRecord {
    guard !id.isEmpty || !required else { throw Rejection.invalid(field, "\(field) is required") }
    guard id.count == 16 else { throw Rejection.invalid(field, "\(field) must be a 16-byte id") }
    guard let record = try resolver.record(Array(id)), !record.deleted, record.type == type else {
      throw Rejection(.notFound, field: field, "\(field) refers to no \(RecordNames.name(of: type))")
    }
    return record
  }
}

/// Plain calendar arithmetic on `Date` messages (proleptic Gregorian).
public enum CalendarDate {
  public static func isValid(_ d: Orgsync_V1_Date) -> Bool {
    guard (1900...2200).contains(d.year), (1...12).contains(d.month), d.day >= 1 else { return false }
    return d.day <= daysInMonth(year: d.year, month: d.month)
  }

  public static func daysInMonth(year: Int32, month: Int32) -> Int32 {
    switch month {
    case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  public static func compare(_ a: Orgsync_V1_Date, _ b: Orgsync_V1_Date) -> Int {
    let l = (a.year, a.month, a.day)
    let r = (b.year, b.month, b.day)
    return l < r ? -1 : (l == r ? 0 : 1)
  }

  /// Days since 1970-01-01 (for medians of resolution times).
  public static func dayNumber(_ d: Orgsync_V1_Date) -> Int {
    // Howard Hinnant's days_from_civil.
    let y = Int(d.month <= 2 ? d.year - 1 : d.year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = Int(d.month)
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int(d.day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
  }

  /// YYYY-MM-DD.
  public static func string(_ d: Orgsync_V1_Date) -> String {
    String(format: "%04d-%02d-%02d", d.year, d.month, d.day)
  }

  public static func make(_ year: Int, _ month: Int, _ day: Int) -> Orgsync_V1_Date {
    var d = Orgsync_V1_Date()
    d.year = Int32(year)
    d.month = Int32(month)
    d.day = Int32(day)
    return d
  }

  /// Today in China Standard Time (UTC+8), the organisation's calendar.
  public static func today(now: Date = Date()) -> Orgsync_V1_Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(secondsFromGMT: 8 * 3600)!
    let c = calendar.dateComponents([.year, .month, .day], from: now)
    return make(c.year!, c.month!, c.day!)
  }
}

/// Names of record types for messages.
public enum RecordNames {
  public static func name(of type: Orgsync_V1_RecordType) -> String {
    switch type {
    case .orgUnit: "unit"
    case .member: "member"
    case .meeting: "meeting"
    case .report: "report"
    case .inspection: "inspection"
    case .notice: "notice"
    case .liaisonPoint: "liaison point"
    case .lecture: "lecture"
    case .supportItem: "support item"
    case .opinion: "opinion"
    case .problem: "problem"
    case .commitment: "commitment"
    case .serviceCase: "service case"
    case .transfer: "transfer"
    case .duesPayment: "dues payment"
    case .assessment: "assessment"
    case .noticeReceipt: "notice receipt"
    default: "record"
    }
  }
}

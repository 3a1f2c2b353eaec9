import Foundation
import OrgSyncProto

/// Field rules of the member lifecycle's records: transfers, dues payments, assessments.
extension Validator {
  func transfer(_ t: Orgsync_V1_Transfer, unitID: [UInt8]) throws {
    try known("status", t.status)
    try text("member_name", t.memberName, max: 50)
    try text("to_unit_code", t.toUnitCode, required: true, max: 64)
    try text("to_unit_name", t.toUnitName, max: 100)
    try text("letter_no", t.letterNo, required: true, max: 50)
    try text("reason", t.reason, max: 200)
    try text("from_unit_name", t.fromUnitName, max: 100)
    try date("issued_on", t.issuedOn, required: true, notAfterToday: true)
    try date("answered_on", t.answeredOn, notAfterToday: true)
    try order("answered_on", after: t.issuedOn, t.answeredOn)
    try text("answer_note", t.answerNote, max: 2000)
    if t.status != .issued, !isSet(t.answeredOn) {
      throw Rejection.invalid("answered_on", "an answered transfer needs the date of the answer")
    }
    if t.status == .returned, t.answerNote.trimmingCharacters(in: .whitespaces).isEmpty {
      throw Rejection.invalid("answer_note", "a returned transfer says why")
    }
    if let destination = try resolver.unitID(code: t.toUnitCode) {
      guard destination != unitID else {
        throw Rejection.invalid("to_unit_code", "a transfer goes to another unit than the member's own")
      }
    } else {
      throw Rejection(.notFound, field: "to_unit_code", "no unit has the organisation code given in to_unit_code")
    }
    if t.status == .issued {
      // While in transit the member is still the issuing unit's, with a membership to move.
      let member = try reference("member_id", t.memberID, type: .member, required: true)
      guard member.unitID == unitID else {
        throw Rejection.invalid("member_id", "a transfer is issued by the member's own unit")
      }
      if case .member(let m)? = member.body.kind, ![.full, .probationary].contains(m.status) {
        throw Rejection.invalid("member_id", "only a full or probationary member's relationship is transferred")
      }
    }
  }

  func duesPayment(_ d: Orgsync_V1_DuesPayment) throws {
    _ = try reference("member_id", d.memberID, type: .member, required: true)
    for (field, month) in [("from_month", d.fromMonth), ("to_month", d.toMonth)] {
      guard (2000...2100).contains(month / 100), (1...12).contains(month % 100) else {
        throw Rejection.invalid(field, "\(field) is a month written YYYYMM, e.g. 202603")
      }
    }
    guard d.toMonth >= d.fromMonth, Dues.months(from: d.fromMonth, to: d.toMonth) <= 24 else {
      throw Rejection.invalid("to_month", "to_month comes after from_month, at most two years later")
    }
    try nonNegative("amount_fen", d.amountFen)
    try date("paid_on", d.paidOn, required: true, notAfterToday: true)
    try text("receipt_no", d.receiptNo, max: 50)
    try text("note", d.note, max: 2000)
  }

  func assessment(_ a: Orgsync_V1_Assessment) throws {
    try known("kind", a.kind)
    guard (2000...2100).contains(a.year) else {
      throw Rejection.invalid("year", "the year must be between 2000 and 2100")
    }
    try date("date", a.date, required: a.kind != .yearTarget, notAfterToday: true)
    if !a.memberID.isEmpty { _ = try reference("member_id", a.memberID, type: .member) }
    try text("content", a.content, max: 5000)
    try text("place", a.place, max: 200)
    try text("reviewer", a.reviewer, max: 100)
    try optionalKnown("grade", a.grade)
    try nonNegative("participants", Int64(a.participants))
    try nonNegative("satisfied", Int64(a.satisfied))
    guard a.satisfied <= a.participants else {
      throw Rejection.invalid("satisfied", "more people satisfied than took part")
    }
    try text("partner", a.partner, max: 100)
    try date("completed_on", a.completedOn, notAfterToday: true)
    switch a.kind {
    case .publicPledge:
      try text("content", a.content, required: true, max: 5000)
      try text("place", a.place, required: true, max: 200)
    case .leaderReview:
      try text("content", a.content, required: true, max: 5000)
      try text("reviewer", a.reviewer, required: true, max: 100)
    case .democraticReview:
      _ = try reference("member_id", a.memberID, type: .member, required: true)
      try known("grade", a.grade)
    case .starRating:
      guard (1...5).contains(a.stars) else { throw Rejection.invalid("stars", "a branch is rated one to five stars") }
    case .pairing:
      _ = try reference("member_id", a.memberID, type: .member, required: true)
      try text("partner", a.partner, required: true, max: 100)
    case .yearTarget:
      try text("content", a.content, required: true, max: 5000)
    default:
      break
    }
  }

  func noticeReceipt(_ r: Orgsync_V1_NoticeReceipt, unitID: [UInt8]) throws {
    let notice = try reference("notice_id", r.noticeID, type: .notice, required: true)
    if case .notice(let n)? = notice.body.kind, try !resolver.isAncestorOrSelf(Array(n.audienceRootID), of: unitID) {
      throw Rejection.invalid("notice_id", "the notice was not addressed to this unit")
    }
    try date("read_on", r.readOn, required: true, notAfterToday: true)
    try text("note", r.note, max: 2000)
  }
}

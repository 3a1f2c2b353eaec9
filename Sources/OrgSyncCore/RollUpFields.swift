import Foundation
import OrgSyncProto

/// Field numbers the roll-up reads, looked up by name in Protos/ once.
enum N {
  static func number(_ type: Orgsync_V1_RecordType, _ name: String) -> Int {
    guard let message = RecordKinds.messageType(of: type)?.protoMessageName else { return 0 }
    return ProtoFields.numbers[message]?[name] ?? 0
  }

  static let memberStatus = number(.member, "status")
  static let memberCadre = number(.member, "leading_cadre")
  static let memberActivistOn = number(.member, "activist_on")
  static let memberProbationStart = number(.member, "probation_start")
  static let reportYear = number(.report, "year")
  static let reportPeriod = number(.report, "period")
  static let reportStatus = number(.report, "status")
  static let reportSubmitted = number(.report, "submitted_on")
  static let lectureSpeaker = number(.lecture, "speaker_id")
  static let lectureDate = number(.lecture, "date")
  static let liaisonUntil = number(.liaisonPoint, "until")
  static let liaisonCadre = number(.liaisonPoint, "cadre_id")
  static let opinionDate = number(.opinion, "date")
  static let problemStatus = number(.problem, "status")
  static let problemIdentified = number(.problem, "identified_on")
  static let problemResolved = number(.problem, "resolved_on")
  static let commitmentStatus = number(.commitment, "status")
  static let commitmentDue = number(.commitment, "due")
  static let commitmentFulfilled = number(.commitment, "fulfilled_on")
  static let inspectionDue = number(.inspection, "follow_up_due")
  static let inspectionDone = number(.inspection, "follow_up_done")
  static let meetingDate = number(.meeting, "date")
  static let meetingKind = number(.meeting, "kind")
  static let serviceDate = number(.serviceCase, "date")
  static let memberDuesCategory = number(.member, "dues_category")
  static let memberEndedOn = number(.member, "ended_on")
  static let memberFullOn = number(.member, "full_member_on")
  static let memberTargetOn = number(.member, "development_target_on")
  static let memberAppliedOn = number(.member, "applied_on")
  static let memberDuesBase = number(.member, "dues_base_fen")
  static let transferCode = number(.transfer, "to_unit_code")
  static let transferStatus = number(.transfer, "status")
  static let transferAnswered = number(.transfer, "answered_on")
  static let duesMember = number(.duesPayment, "member_id")
  static let duesFrom = number(.duesPayment, "from_month")
  static let duesTo = number(.duesPayment, "to_month")
  static let duesAmount = number(.duesPayment, "amount_fen")
  static let assessmentKind = number(.assessment, "kind")
  static let assessmentYear = number(.assessment, "year")
  static let assessmentDate = number(.assessment, "date")
  static let assessmentMember = number(.assessment, "member_id")
  static let assessmentGrade = number(.assessment, "grade")
  static let assessmentStars = number(.assessment, "stars")
  static let assessmentCompleted = number(.assessment, "completed_on")
  static let noticeIssued = number(.notice, "issued_on")
  static let noticeAudience = number(.notice, "audience_root_id")
  static let receiptNotice = number(.noticeReceipt, "notice_id")
  static let supportDate = number(.supportItem, "date")
  static let supportAmount = number(.supportItem, "amount_fen")
}

/// 16 bytes as a cheap dictionary key (hashing two words instead of sixteen bytes).
struct Key16: Hashable, Sendable {
  var a: UInt64 = 0
  var b: UInt64 = 0

  init<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    var i = 0
    for byte in bytes {
      if i < 8 { a = a << 8 | UInt64(byte) } else if i < 16 { b = b << 8 | UInt64(byte) } else { break }
      i += 1
    }
  }

  var bytes: [UInt8] {
    (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? a >> (56 - 8 * UInt64($0)) : b >> (120 - 8 * UInt64($0)))) }
  }
}

/// The handful of fields a roll-up reads, taken from a body's protobuf encoding without
/// decoding the whole message or allocating. Field numbers come from Protos/ (ProtoFields).
struct RollUpFields {
  let bytes: UnsafeRawBufferPointer

  enum Value {
    case varint(UInt64)
    case slice(UnsafeRawBufferPointer)
  }

  /// The last value of field `number` at the top level of `bytes`.
  static func find(_ number: Int, in bytes: UnsafeRawBufferPointer) -> Value? {
    var i = bytes.startIndex
    var found: Value? = nil
    func varint() -> UInt64? { Varint.read(bytes, at: &i) }
    while i < bytes.endIndex, let tag = varint() {
      let field = Int(tag >> 3)
      switch tag & 7 {
      case 0:
        guard let v = varint() else { return found }
        if field == number { found = .varint(v) }
      case 1: i += 8
      case 2:
        guard let n = varint(), n <= UInt64(bytes.endIndex - i) else { return found }
        if field == number { found = .slice(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + Int(n))])) }
        i += Int(n)
      case 5: i += 4
      default: return found
      }
    }
    return found
  }

  func int(_ number: Int) -> Int {
    guard case .varint(let v)? = Self.find(number, in: bytes) else { return 0 }
    return Int(truncatingIfNeeded: Int32(truncatingIfNeeded: v))
  }

  func int64(_ number: Int) -> Int64 {
    guard case .varint(let v)? = Self.find(number, in: bytes) else { return 0 }
    return Int64(bitPattern: v)
  }

  func string(_ number: Int) -> String {
    String(decoding: bytes(number), as: UTF8.self)
  }

  func bytes(_ number: Int) -> UnsafeRawBufferPointer {
    guard case .slice(let s)? = Self.find(number, in: bytes) else {
      return UnsafeRawBufferPointer(start: nil, count: 0)
    }
    return s
  }

  func date(_ number: Int) -> Orgsync_V1_Date {
    guard case .slice(let s)? = Self.find(number, in: bytes) else { return Orgsync_V1_Date() }
    var d = Orgsync_V1_Date()
    if case .varint(let v)? = Self.find(1, in: s) { d.year = Int32(truncatingIfNeeded: v) }
    if case .varint(let v)? = Self.find(2, in: s) { d.month = Int32(truncatingIfNeeded: v) }
    if case .varint(let v)? = Self.find(3, in: s) { d.day = Int32(truncatingIfNeeded: v) }
    return d
  }
}

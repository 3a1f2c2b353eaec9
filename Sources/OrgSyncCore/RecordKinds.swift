import OrgSyncProto
import SwiftProtobuf

/// The body message of each record type, and the generic operations on it.
public enum RecordKinds {
  /// Every type a client may write.
  public static let all: [Orgsync_V1_RecordType] = [
    .orgUnit, .member, .meeting, .report, .inspection, .notice, .liaisonPoint, .lecture, .supportItem, .opinion,
    .problem, .commitment, .serviceCase, .transfer, .duesPayment, .assessment, .noticeReceipt,
  ]

  /// The type a body's set member stands for (unspecified when none is set).
  public static func type(of body: Orgsync_V1_RecordBody) -> Orgsync_V1_RecordType {
    switch body.kind {
    case .orgUnit: .orgUnit
    case .member: .member
    case .meeting: .meeting
    case .report: .report
    case .inspection: .inspection
    case .notice: .notice
    case .liaisonPoint: .liaisonPoint
    case .lecture: .lecture
    case .supportItem: .supportItem
    case .opinion: .opinion
    case .problem: .problem
    case .commitment: .commitment
    case .serviceCase: .serviceCase
    case .transfer: .transfer
    case .duesPayment: .duesPayment
    case .assessment: .assessment
    case .noticeReceipt: .noticeReceipt
    case nil: .unspecified
    }
  }

  /// The inner message of a body.
  public static func message(of body: Orgsync_V1_RecordBody) -> (any SwiftProtobuf.Message)? {
    switch body.kind {
    case .orgUnit(let m): m
    case .member(let m): m
    case .meeting(let m): m
    case .report(let m): m
    case .inspection(let m): m
    case .notice(let m): m
    case .liaisonPoint(let m): m
    case .lecture(let m): m
    case .supportItem(let m): m
    case .opinion(let m): m
    case .problem(let m): m
    case .commitment(let m): m
    case .serviceCase(let m): m
    case .transfer(let m): m
    case .duesPayment(let m): m
    case .assessment(let m): m
    case .noticeReceipt(let m): m
    case nil: nil
    }
  }

  /// The Swift type of a record type's body message.
  public static func messageType(of type: Orgsync_V1_RecordType) -> (any SwiftProtobuf.Message.Type)? {
    switch type {
    case .orgUnit: Orgsync_V1_OrgUnit.self
    case .member: Orgsync_V1_Member.self
    case .meeting: Orgsync_V1_Meeting.self
    case .report: Orgsync_V1_Report.self
    case .inspection: Orgsync_V1_Inspection.self
    case .notice: Orgsync_V1_Notice.self
    case .liaisonPoint: Orgsync_V1_LiaisonPoint.self
    case .lecture: Orgsync_V1_Lecture.self
    case .supportItem: Orgsync_V1_SupportItem.self
    case .opinion: Orgsync_V1_Opinion.self
    case .problem: Orgsync_V1_Problem.self
    case .commitment: Orgsync_V1_Commitment.self
    case .serviceCase: Orgsync_V1_ServiceCase.self
    case .transfer: Orgsync_V1_Transfer.self
    case .duesPayment: Orgsync_V1_DuesPayment.self
    case .assessment: Orgsync_V1_Assessment.self
    case .noticeReceipt: Orgsync_V1_NoticeReceipt.self
    default: nil
    }
  }

  /// A body of `type` decoded from the inner message's bytes.
  public static func body(type: Orgsync_V1_RecordType, bytes: [UInt8]) throws -> Orgsync_V1_RecordBody {
    var body = Orgsync_V1_RecordBody()
    switch type {
    case .orgUnit: body.orgUnit = try .init(serializedBytes: bytes)
    case .member: body.member = try .init(serializedBytes: bytes)
    case .meeting: body.meeting = try .init(serializedBytes: bytes)
    case .report: body.report = try .init(serializedBytes: bytes)
    case .inspection: body.inspection = try .init(serializedBytes: bytes)
    case .notice: body.notice = try .init(serializedBytes: bytes)
    case .liaisonPoint: body.liaisonPoint = try .init(serializedBytes: bytes)
    case .lecture: body.lecture = try .init(serializedBytes: bytes)
    case .supportItem: body.supportItem = try .init(serializedBytes: bytes)
    case .opinion: body.opinion = try .init(serializedBytes: bytes)
    case .problem: body.problem = try .init(serializedBytes: bytes)
    case .commitment: body.commitment = try .init(serializedBytes: bytes)
    case .serviceCase: body.serviceCase = try .init(serializedBytes: bytes)
    case .transfer: body.transfer = try .init(serializedBytes: bytes)
    case .duesPayment: body.duesPayment = try .init(serializedBytes: bytes)
    case .assessment: body.assessment = try .init(serializedBytes: bytes)
    case .noticeReceipt: body.noticeReceipt = try .init(serializedBytes: bytes)
    default: throw RecordError.unknownType
    }
    return body
  }

  /// The inner message's bytes.
  public static func bytes(of body: Orgsync_V1_RecordBody) -> [UInt8] {
    guard let message = message(of: body) else { return [] }
    return (try? message.serializedBytes()) ?? []
  }

  /// Field number for a field name of `type`'s body (the names of Protos/records.proto).
  public static func fieldNumber(_ name: String, of type: Orgsync_V1_RecordType) -> Int? {
    guard let messageType = messageType(of: type) else { return nil }
    return ProtoFields.numbers[messageType.protoMessageName]?[name]
  }

  /// Field name for a number of `type`'s body.
  public static func fieldName(_ number: Int, of type: Orgsync_V1_RecordType) -> String? {
    guard let messageType = messageType(of: type) else { return nil }
    return ProtoFields.numbers[messageType.protoMessageName]?.first { $0.value == number }?.key
  }

  /// All field numbers of `type`'s body.
  public static func fieldNumbers(of type: Orgsync_V1_RecordType) -> [Int] {
    guard let messageType = messageType(of: type) else { return [] }
    return (ProtoFields.numbers[messageType.protoMessageName] ?? [:]).values.sorted()
  }
}

public enum RecordError: Error, Hashable, Sendable {
  case unknownType
}

import COrgSyncProto
import Foundation
import NIOCore
import OrgSyncProto
import OrgSyncWire
import SwiftProtobuf
import Testing

/// Every Swift message type, by its protobuf full name.
let swiftMessages: [String: any SwiftProtobuf.Message.Type] = {
  let types: [any SwiftProtobuf.Message.Type] = [
    Orgsync_V1_Cancel.self, Orgsync_V1_Challenge.self, Orgsync_V1_Change.self, Orgsync_V1_Commitment.self,
    Orgsync_V1_Conflict.self, Orgsync_V1_Date.self, Orgsync_V1_GoAway.self, Orgsync_V1_Hello.self,
    Orgsync_V1_HelloAck.self, Orgsync_V1_Inspection.self, Orgsync_V1_Lecture.self, Orgsync_V1_LiaisonPoint.self,
    Orgsync_V1_Limits.self, Orgsync_V1_Meeting.self, Orgsync_V1_Member.self, Orgsync_V1_MetadataEntry.self,
    Orgsync_V1_Mutation.self, Orgsync_V1_MutationResult.self, Orgsync_V1_Notice.self, Orgsync_V1_Opinion.self,
    Orgsync_V1_OrgUnit.self, Orgsync_V1_Problem.self, Orgsync_V1_PullPage.self, Orgsync_V1_PullRequest.self,
    Orgsync_V1_PushRequest.self, Orgsync_V1_PushResponse.self, Orgsync_V1_Record.self, Orgsync_V1_RecordBody.self,
    Orgsync_V1_Report.self, Orgsync_V1_RequestHeaders.self, Orgsync_V1_ResponseHeaders.self,
    Orgsync_V1_ScopeDigest.self, Orgsync_V1_ServiceCase.self, Orgsync_V1_SupportItem.self, Orgsync_V1_Transfer.self,
    Orgsync_V1_DuesPayment.self,
    Orgsync_V1_Assessment.self, Orgsync_V1_NoticeReceipt.self,
    Orgsync_V1_Trailers.self, Orgsync_V1_TypeDigest.self, Orgsync_V1_DigestRequest.self,
    Orgsync_V1_ConflictsRequest.self, Orgsync_V1_ConflictsResponse.self, Orgsync_V1_ResolveConflictRequest.self,
    Orgsync_V1_ResolveConflictResponse.self, Orgsync_V1_EnrollRequest.self, Orgsync_V1_EnrollResponse.self,
    Orgsync_V1_WhoAmIRequest.self, Orgsync_V1_WhoAmIResponse.self, Orgsync_V1_VersionsRequest.self,
    Orgsync_V1_HistoryRequest.self, Orgsync_V1_HistoryEntry.self, Orgsync_V1_HistoryResponse.self,
    Orgsync_V1_VersionsPage.self, Orgsync_V1_FetchRequest.self, Orgsync_V1_FetchResponse.self,
    Orgsync_V1_RollUpRequest.self, Orgsync_V1_StatusCount.self, Orgsync_V1_UnitRollUp.self, Orgsync_V1_RollUp.self,
  ]
  return Dictionary(uniqueKeysWithValues: types.map { ($0.protoMessageName, $0) })
}()

/// The names of all messages protoc-c generated (from the descriptor table the generator writes).
let cMessageNames: [String] = (0..<osync_message_count()).map { String(cString: osync_message_name($0)) }

func fullyFilledBytes(_ name: String, variant: UInt32) -> [UInt8]? {
  var length = 0
  guard let raw = osync_fill_pack(name, variant, &length) else { return nil }
  defer { free(raw) }
  return Array(UnsafeBufferPointer(start: raw, count: length))
}

func reencodeInC(_ name: String, _ bytes: [UInt8]) -> [UInt8]? {
  var out: UnsafeMutablePointer<UInt8>? = nil
  var outLength = 0
  let rc = bytes.withUnsafeBufferPointer { osync_reencode(name, $0.baseAddress, $0.count, &out, &outLength) }
  guard rc == 0, let out else { return nil }
  defer { free(out) }
  return Array(UnsafeBufferPointer(start: out, count: outLength))
}

@Suite("libprotobuf-c interop")
struct ProtobufCInteropTests {
  @Test("every message in Protos/ exists on both sides")
  func sameMessageSet() {
    #expect(cMessageNames.count == 60)
    #expect(Set(cMessageNames) == Set(swiftMessages.keys))
  }

  @Test(
    "Swift → libprotobuf-c → Swift keeps every field",
    arguments: cMessageNames)
  func roundTrip(name: String) throws {
    let type = try #require(swiftMessages[name])
    for variant in 0..<osync_variant_count(name) {
      // A message with every field set (built through libprotobuf-c's descriptors).
      let filled = try #require(fullyFilledBytes(name, variant: variant))
      let original = try type.init(serializedBytes: filled)
      #expect(original.unknownFields.data.isEmpty, "Swift understood every field of \(name)")

      // Encode with swift-protobuf, decode and re-encode with libprotobuf-c, decode in Swift.
      let swiftBytes: [UInt8] = try original.serializedBytes()
      let cBytes = try #require(reencodeInC(name, swiftBytes), "libprotobuf-c rejected Swift's \(name)")
      let back = try type.init(serializedBytes: cBytes)
      #expect(back.isEqualTo(message: original), "\(name) variant \(variant)")
      #expect(cBytes == swiftBytes, "both sides write \(name) byte for byte alike")
    }
  }

  @Test("a member with CJK text and negative numbers survives the trip")
  func handWrittenMember() throws {
    var member = Orgsync_V1_Member()
    member.name = "张秀英"
    member.gender = .female
    member.ethnicity = "土家族"
    member.birthDate = .with {
      $0.year = 1968; $0.month = 2; $0.day = 29
    }
    member.status = .probationary
    member.leadingCadre = true
    member.cadreTitle = "县委组织部副部长"
    var body = Orgsync_V1_RecordBody()
    body.member = member
    var record = Orgsync_V1_Record()
    record.id = Data((0..<16).map { UInt8($0) })
    record.type = .member
    record.version = -1
    record.hlc = UInt64.max
    record.body = body
    let bytes: [UInt8] = try record.serializedBytes()
    let back = try Orgsync_V1_Record(serializedBytes: try #require(reencodeInC("orgsync.v1.Record", bytes)))
    #expect(back == record)
    #expect(back.body.member.name == "张秀英")
  }

  @Test("libprotobuf-c rejects what is not a message, and so does Swift")
  func garbageRejectedBothSides() {
    let garbage: [UInt8] = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]  // length-delimited field claiming 4 GiB
    #expect(reencodeInC("orgsync.v1.Record", garbage) == nil)
    #expect(throws: (any Error).self) { try Orgsync_V1_Record(serializedBytes: garbage) }
  }
}

@Suite("C frame reader")
struct CFrameReaderTests {
  @Test("a C reader written from PROTOCOL.md reads frames the Swift encoder wrote")
  func cReadsSwiftFrames() throws {
    var headers = Orgsync_V1_RequestHeaders()
    headers.method = "/orgsync.v1.Sync/Push"
    headers.timeoutMicros = 5_000_000
    let headerBytes: [UInt8] = try headers.serializedBytes()
    var buffer = ByteBuffer()
    buffer.writePreface()
    buffer.writeFrame(Frame(type: .headers, streamID: 1, payload: ByteBuffer(bytes: headerBytes)))
    buffer.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer(string: "太平村")))
    let bytes = Array(buffer.readableBytesView)

    try bytes.withUnsafeBufferPointer { raw in
      var major: UInt8 = 0
      var minor: UInt8 = 0
      #expect(osync_read_preface(raw.baseAddress, raw.count, &major, &minor) == OSYNC_OK)
      #expect((major, minor) == (1, 0))
      var offset = 8
      var frame = osync_frame()
      var consumed = 0
      #expect(osync_read_frame(raw.baseAddress! + offset, raw.count - offset, 1 << 20, &frame, &consumed) == OSYNC_OK)
      #expect(frame.type == FrameType.headers.rawValue && frame.stream_id == 1)
      let decoded = try Orgsync_V1_RequestHeaders(
        serializedBytes: Array(UnsafeBufferPointer(start: frame.payload, count: Int(frame.length))))
      #expect(decoded == headers)
      offset += consumed
      #expect(osync_read_frame(raw.baseAddress! + offset, raw.count - offset, 1 << 20, &frame, &consumed) == OSYNC_OK)
      #expect(frame.type == FrameType.message.rawValue && frame.flags == FrameFlags.endStream.rawValue)
      #expect(
        String(decoding: UnsafeBufferPointer(start: frame.payload, count: Int(frame.length)), as: UTF8.self) == "太平村")
      #expect(offset + consumed == raw.count)
      // One byte short: the C reader waits, as the Swift one does.
      #expect(osync_read_frame(raw.baseAddress! + offset, consumed - 1, 1 << 20, &frame, &consumed) == OSYNC_NEED_MORE)
    }
    var corrupted = bytes
    corrupted[corrupted.count - 1] ^= 0x01
    corrupted.withUnsafeBufferPointer { raw in
      var frame = osync_frame()
      var consumed = 0
      var offset = 8
      _ = osync_read_frame(raw.baseAddress! + offset, raw.count - offset, 1 << 20, &frame, &consumed)
      offset += consumed
      #expect(
        osync_read_frame(raw.baseAddress! + offset, raw.count - offset, 1 << 20, &frame, &consumed)
          == OSYNC_BAD_CHECKSUM)
    }
  }
}

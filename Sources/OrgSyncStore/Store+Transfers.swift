import Crypto
import Foundation
import OrgSyncCore
import OrgSyncProto

extension MutationApplier {
  /// An accepted transfer moves the member to the receiving unit, in the same transaction as the
  /// answer: the receiving side's acceptance is the right to move it (it could not otherwise
  /// write into the issuing unit's subtree). The member's record keeps its id and history.
  func moveTransferredMember(
    _ transfer: Orgsync_V1_Transfer, issuer: [UInt8], mutationID: [UInt8], hlc: UInt64
  ) throws {
    guard let destination = try tree.unitID(code: transfer.toUnitCode),
      let member = try StoredRecord.fetch(db, id: Array(transfer.memberID)), member.type == .member, !member.deleted
    else { throw Rejection(.notFound, field: "member_id", "the transferred member is no longer on record") }
    guard member.unitID == issuer else {
      throw Rejection(.state, field: "status", "the member has already left the issuing unit; this transfer is moot")
    }
    var move = Orgsync_V1_Mutation()
    // Derived from the answer's id, so a retried answer (answered from the stored result) never moves twice.
    move.mutationID = Data(Array(Crypto.SHA256.hash(data: mutationID + Array("transfer-move".utf8))).prefix(16))
    move.recordID = Data(member.id)
    move.type = .member
    move.body.member = Orgsync_V1_Member()  // no fields: only the owner changes
    move.unitID = Data(destination)
    move.baseVersion = member.version
    move.hlc = hlc
    var applier = self
    applier.importing = true  // authorised by the transfer, checked above
    let result = try applier.apply(move)
    guard result.outcome != .rejected else { throw Rejection(result.rejectCode, field: "status", result.reason) }
  }
}

import Crypto
import Foundation
import OrgSyncProto

/// Count and order-free hash of a set of (id, version): XOR of SHA-256(id ‖ version).
public struct DigestAccumulator: Sendable {
  public private(set) var count: UInt64 = 0
  public private(set) var hash = [UInt8](repeating: 0, count: 32)

  public init() {}

  public mutating func add(id: [UInt8], version: Int64) {
    var input = id
    for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8((UInt64(version) >> UInt64(shift)) & 0xFF)) }
    for (i, byte) in SHA256.hash(data: input).enumerated() { hash[i] ^= byte }
    count += 1
  }

  public func message(type: Orgsync_V1_RecordType) -> Orgsync_V1_TypeDigest {
    var digest = Orgsync_V1_TypeDigest()
    digest.type = type
    digest.count = count
    digest.hash = Data(hash)
    return digest
  }
}

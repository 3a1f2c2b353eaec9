/// A protobuf message split into its fields at the wire level: field number → the encoded
/// entries (tag and value) of that field, in arrival order.
///
/// This is what makes field-level merge generic over every record type: a mutation's changed
/// fields are replaced as opaque byte runs, two versions of a field compare as bytes, and the
/// joined result is again a valid encoding of the message (fields in number order).
public struct WireFields: Hashable, Sendable {
  public private(set) var fields: [Int: [UInt8]]

  public init() { fields = [:] }

  /// Splits `bytes`; throws on anything that is not a well-formed protobuf encoding.
  public init(bytes: [UInt8]) throws(WireFieldsError) {
    var fields: [Int: [UInt8]] = [:]
    var index = 0
    func varint() throws(WireFieldsError) -> UInt64 {
      guard let value = Varint.read(bytes, at: &index) else { throw WireFieldsError.malformed }
      return value
    }
    while index < bytes.count {
      let start = index
      let tag = try varint()
      let number = Int(tag >> 3)
      guard number > 0, number <= 536_870_911 else { throw WireFieldsError.malformed }
      switch tag & 7 {
      case 0: _ = try varint()
      case 1: index += 8
      case 2:
        let length = try varint()
        guard length <= UInt64(bytes.count - index) else { throw WireFieldsError.malformed }
        index += Int(length)
      case 5: index += 4
      default: throw WireFieldsError.malformed
      }
      guard index <= bytes.count else { throw WireFieldsError.malformed }
      fields[number, default: []].append(contentsOf: bytes[start..<index])
    }
    self.fields = fields
  }

  /// The encoding: fields in ascending number order.
  public var bytes: [UInt8] {
    fields.keys.sorted().flatMap { fields[$0]! }
  }

  public subscript(number: Int) -> [UInt8]? {
    get { fields[number] }
    set { fields[number] = (newValue?.isEmpty ?? true) ? nil : newValue }
  }
}

public enum WireFieldsError: Error, Hashable, Sendable {
  case malformed
}

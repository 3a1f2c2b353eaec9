/// Protobuf base-128 varints: the one reader and writer behind the field scanner, the roll-up's
/// field reader and the server's per-field metadata.
public enum Varint {
  /// Reads a varint at `index` and moves past it; nil (index unspecified) if it is cut off or
  /// longer than 64 bits.
  @inline(__always)
  public static func read<C: RandomAccessCollection>(_ bytes: C, at index: inout C.Index) -> UInt64?
  where C.Element == UInt8 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while index < bytes.endIndex, shift < 64 {
      let byte = bytes[index]
      bytes.formIndex(after: &index)
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
    }
    return nil
  }

  public static func append(_ value: UInt64, to out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
  }
}

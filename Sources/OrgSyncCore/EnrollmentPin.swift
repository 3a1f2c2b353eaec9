import Crypto

/// The county's certificate authority, pinned by the enrolment code: `orgsyncd enroll` prints
/// the one-time code followed by the first 80 bits of the SHA-256 of the CA certificate (DER),
/// in the code's own alphabet, e.g. `7K2M-QX9D-HT4B-R8WN-C3FJ-M6PZ-V2QA`. `orgsync enroll`
/// trusts the server only if it presents that CA and its certificate is signed by it, so no CA
/// file has to be carried to the village PC. 80 bits: an on-path attacker would need a second
/// preimage of that length, in real time — far out of reach — while the code stays short
/// enough to read out over the phone.
public enum EnrollmentPin {
  /// Same alphabet as the codes: no I, L, O or U to misread.
  static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
  static let codeLength = 12
  static let pinLength = 16

  /// The pin of a CA certificate's DER bytes (16 characters).
  public static func pin(certificateDER: [UInt8]) -> String {
    encode(Array(SHA256.hash(data: certificateDER)).prefix(10))  // 80 bits
  }

  /// Bytes in the code alphabet, five bits a character (a short tail padded with zero bits).
  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    var bits = 0
    var value = 0
    var out = ""
    for byte in bytes {
      value = (value << 8) | Int(byte)
      bits += 8
      while bits >= 5 {
        bits -= 5
        out.append(alphabet[(value >> bits) & 31])
      }
      value &= (1 << bits) - 1
    }
    if bits > 0 { out.append(alphabet[(value << (5 - bits)) & 31]) }
    return out
  }

  /// The code and pin as printed: groups of four joined by dashes.
  public static func printed(code: String, pin: String?) -> String {
    grouped(normalize(code) + (pin ?? ""))
  }

  /// Splits what was typed into the one-time code and the pin (nil when the code carries
  /// none: a server without TLS). Nil when it is neither length.
  public static func split(_ typed: String) -> (code: String, pin: String?)? {
    let characters = normalize(typed)
    switch characters.count {
    case codeLength: return (characters, nil)
    case codeLength + pinLength:
      return (String(characters.prefix(codeLength)), String(characters.suffix(pinLength)))
    default: return nil
    }
  }

  /// Text in groups of four joined by dashes, as codes are printed.
  public static func grouped(_ text: String) -> String {
    var groups: [String] = []
    var rest = Substring(text)
    while !rest.isEmpty {
      groups.append(String(rest.prefix(4)))
      rest = rest.dropFirst(4)
    }
    return groups.joined(separator: "-")
  }

  /// Upper case, without the dashes and spaces people type between groups.
  public static func normalize(_ text: String) -> String {
    text.uppercased().filter { $0 != "-" && $0 != " " }
  }
}

/// Key–value pairs sent with a call's headers or trailers. Keys are lower-case ASCII; a key may
/// repeat. Never put personal data here: metadata may be logged.
public struct Metadata: Hashable, Sendable, ExpressibleByDictionaryLiteral, Sequence {
  public private(set) var entries: [(key: String, value: String)]

  public init() { entries = [] }

  public init(dictionaryLiteral elements: (String, String)...) {
    entries = elements.map { (key: $0.0.lowercased(), value: $0.1) }
  }

  public mutating func add(_ key: String, _ value: String) {
    entries.append((key: key.lowercased(), value: value))
  }

  /// The first value for `key`.
  public subscript(key: String) -> String? {
    let key = key.lowercased()
    return entries.first { $0.key == key }?.value
  }

  public var isEmpty: Bool { entries.isEmpty }

  public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> {
    entries.makeIterator()
  }

  public static func == (lhs: Metadata, rhs: Metadata) -> Bool {
    lhs.entries.elementsEqual(rhs.entries) { $0.key == $1.key && $0.value == $1.value }
  }

  public func hash(into hasher: inout Hasher) {
    for entry in entries {
      hasher.combine(entry.key)
      hasher.combine(entry.value)
    }
  }
}

import Foundation
import OrgSyncRPC
import OrgSyncServer
import OrgSyncStore
import Testing

/// docs/PROTOCOL.md §4.2 is what a stranger implements a client from: its method table, the
/// `service` blocks in Protos/ and the methods the server registers must say the same.
@Suite("The method table")
struct MethodTableTests {
  struct Row: Hashable, CustomStringConvertible {
    var name: String
    var request: String
    var response: String
    var kind: String
    var description: String { "\(name)(\(request)) → \(response) [\(kind)]" }
  }

  static let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// Rows of the table in §4.2.
  static func documented() throws -> Set<Row> {
    let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
    var rows = Set<Row>()
    for line in text.split(separator: "\n") where line.hasPrefix("| `/orgsync.") {
      let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "")
      }
      rows.insert(Row(name: cells[1], request: cells[2], response: cells[3], kind: cells[4]))
    }
    return rows
  }

  /// `rpc` lines of the `service` blocks in Protos/.
  static func declared() throws -> Set<Row> {
    let folder = root.appendingPathComponent("Protos/orgsync/v1")
    let pattern = try Regex(#"rpc\s+(\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*\(\s*(stream\s+)?([\w.]+)\s*\)"#)
    var rows = Set<Row>()
    for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".proto") {
      let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
      var service: String?
      for line in text.split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("//") { continue }
        if trimmed.hasPrefix("service ") { service = String(trimmed.split(separator: " ")[1]) }
        guard let service, let match = trimmed.firstMatch(of: pattern) else { continue }
        let clientStreams = match.output[2].substring != nil
        let serverStreams = match.output[4].substring != nil
        let kind =
          switch (clientStreams, serverStreams) {
          case (false, false): "unary"
          case (false, true): "server streaming"
          case (true, false): "client streaming"
          case (true, true): "bidirectional"
          }
        func short(_ name: Substring?) -> String { String(name!.split(separator: ".").last!) }
        rows.insert(
          Row(
            name: "/orgsync.v1.\(service)/\(match.output[1].substring!)", request: short(match.output[3].substring),
            response: short(match.output[5].substring), kind: kind))
      }
    }
    return rows
  }

  /// What the server registers, as `orgsyncd serve` does.
  static func served() throws -> Set<Row> {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("methods-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = FairShareStore(try SQLiteStore(path: folder.appendingPathComponent("s.sqlite").path))
    let methods = SyncService(store: store).methods + EnrollmentService(store: store).methods
    return Set(
      methods.map {
        Row(
          name: $0.name, request: String($0.requestType.split(separator: ".").last!),
          response: String($0.responseType.split(separator: ".").last!), kind: $0.kind.rawValue)
      })
  }

  @Test("PROTOCOL.md's method table, the protos' service blocks and the server's router agree")
  func agree() throws {
    let documented = try Self.documented()
    let declared = try Self.declared()
    let served = try Self.served()
    #expect(documented.count >= 10)
    #expect(
      documented == served,
      "documented but not served: \(documented.subtracting(served)); served but not documented: \(served.subtracting(documented))"
    )
    #expect(
      declared == served,
      "declared but not served: \(declared.subtracting(served)); served but not declared: \(served.subtracting(declared))"
    )
  }

  @Test("only enrolment is open to an anonymous connection")
  func anonymous() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("methods-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SQLiteStore(path: folder.appendingPathComponent("s.sqlite").path)
    let methods = SyncService(store: store).methods + EnrollmentService(store: store).methods
    #expect(methods.filter(\.allowsAnonymous).map(\.name) == ["/orgsync.v1.Enrollment/Enroll"])
  }
}

import Foundation
import GRDB
import OrgSyncCore
import OrgSyncProto

/// The same rules the server applies, run on the device before an edit is queued, so a bad
/// value is refused at once with the field named — offline too.
struct ReplicaResolver: ReferenceResolver {
  let db: Database
  let sealer: Sealer

  func record(_ id: [UInt8]) throws -> ReferencedRecord? {
    guard
      let row = try Row.fetchOne(db, sql: "SELECT type, unit_id, body FROM records WHERE id = ?", arguments: [Data(id)])
    else { return nil }
    let type = Orgsync_V1_RecordType(rawValue: row[0]) ?? .unspecified
    return ReferencedRecord(
      type: type, unitID: [UInt8](row[1] as Data), deleted: false,
      body: (try? RecordKinds.body(type: type, bytes: sealer.open(row[2]))) ?? Orgsync_V1_RecordBody())
  }

  func isAncestorOrSelf(_ ancestor: [UInt8], of unit: [UInt8]) throws -> Bool {
    var current = unit
    for _ in 0..<64 {
      if current == ancestor { return true }
      guard let parent = try record(current), case .orgUnit(let u)? = parent.body.kind, !u.parentID.isEmpty else {
        return false
      }
      current = Array(u.parentID)
    }
    return false
  }

  func unitID(code: String) throws -> [UInt8]? {
    guard !code.isEmpty else { return nil }
    for row in try Row.fetchAll(
      db, sql: "SELECT id, body FROM records WHERE type = ?", arguments: [Orgsync_V1_RecordType.orgUnit.rawValue])
    {
      if let unit = try? Orgsync_V1_OrgUnit(serializedBytes: sealer.open(row[1])), unit.code == code {
        return [UInt8](row[0] as Data)
      }
    }
    return nil
  }
}

extension Replica {
  /// Checks a record as it would be stored; throws the server's `Rejection` if it would be
  /// refused for a field. References to records this replica does not hold (outside the
  /// scope) are left for the server to judge.
  public func validate(_ body: Orgsync_V1_RecordBody, unitID: [UInt8], today: Orgsync_V1_Date) throws {
    try writer.read { db in
      do {
        try Validator(resolver: ReplicaResolver(db: db, sealer: sealer), today: today).validate(body, unitID: unitID)
      } catch let rejection as Rejection where rejection.code == .notFound {
        return  // maybe outside what this replica holds
      }
    }
  }

  /// Units this replica knows (its subtree and its ancestors), by id.
  public func units() throws -> [[UInt8]: Orgsync_V1_OrgUnit] {
    var units: [[UInt8]: Orgsync_V1_OrgUnit] = [:]
    for record in try records(type: .orgUnit) { units[record.id] = record.body.orgUnit }
    return units
  }

  /// Finds a record by its full id or by a unique ending of it (at least 6 hex digits).
  public func resolveID(_ text: String) throws -> [UInt8] {
    if let id = RecordID.parse(text) { return id }
    let suffix = text.lowercased().filter { $0 != "-" }
    guard suffix.count >= 6, suffix.allSatisfy(\.isHexDigit) else {
      throw ReplicaError("'\(text)' is not a record id; give the id or its last 6–8 digits as listed")
    }
    let matches = try writer.read { db in
      try Data.fetchAll(db, sql: "SELECT id FROM records").map { [UInt8]($0) }
        .filter { RecordID.string($0).filter { $0 != "-" }.hasSuffix(suffix) }
    }
    guard matches.count == 1 else {
      throw ReplicaError(
        matches.isEmpty ? "no record here ends in \(text)" : "\(matches.count) records end in \(text); give more digits"
      )
    }
    return matches[0]
  }
}

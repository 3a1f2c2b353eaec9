import Foundation
import GRDB
import OrgSyncProto

extension Replica {
  /// The columns that hold record bodies or edits (personal data), by table and row key.
  static let sealedColumns: [(table: String, key: String, column: String)] = [
    ("records", "id", "body"), ("server_records", "id", "body"), ("heal_snapshot", "id", "body"),
    ("held", "id", "body"), ("conflicts", "id", "body"), ("outbox", "seq", "mutation"), ("sent", "seq", "mutation"),
    ("rejected", "mutation_id", "mutation"),
  ]
  static let keyCheck = Array("orgsync replica key".utf8)

  func sealed(_ bytes: [UInt8]) throws -> Data { try sealer.seal(bytes) }
  func sealed(_ m: Orgsync_V1_Mutation) throws -> Data { try sealer.seal(m.serializedBytes()) }
  func unsealed(_ value: Data) throws -> [UInt8] { try sealer.open(value) }
  func unsealedMutation(_ value: Data) throws -> Orgsync_V1_Mutation {
    try Orgsync_V1_Mutation(serializedBytes: sealer.open(value))
  }

  /// Whether the replica at `path` was sealed with a key (false when it cannot be read).
  public static func isSealed(path: String) -> Bool {
    var configuration = Configuration()
    configuration.readonly = true
    guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return false }
    defer { try? queue.close() }
    let found = try? queue.read { db in
      try Bool.fetchOne(db, sql: "SELECT 1 FROM state WHERE key = 'key_check'")
    }
    return found == .some(true)
  }

  /// Checks that the key opens this file; seals a file written before sealing existed (all in
  /// one transaction), then rewrites the file and the edit journal so no clear copy is left.
  func sealIfNeeded() throws {
    guard sealer.key != nil else { return }
    let sealedNow = try writer.write { db -> Bool in
      if let check: Data = try state("key_check", db) {
        guard (try? unsealed(check)) == Self.keyCheck else {
          throw ReplicaError("this key does not open this computer's data file (a key file from another computer?)")
        }
        return false
      }
      var count = 0
      for (table, key, column) in Self.sealedColumns {
        let rows = try Row.fetchAll(db, sql: "SELECT \(key), \(column) FROM \(table)")
        for row in rows {
          let clear: Data = row[1]
          try db.execute(
            sql: "UPDATE \(table) SET \(column) = ? WHERE \(key) = ?",
            arguments: [try sealed([UInt8](clear)), row[0] as DatabaseValue])
          count += 1
        }
      }
      if let secret: Data = try state("secret", db) {
        try setState("secret", try sealed([UInt8](secret)), db)
        count += 1
      }
      try setState("key_check", try sealed(Self.keyCheck), db)
      return count > 0
    }
    guard sealedNow else { return }
    try saveIdentityCopy()
    if let journal {
      let clear = journal.entries()
      try journal.replace(with: clear.map { entry in [UInt8]((try? sealed(entry)) ?? Data()) })
    }
    // secure_delete zeroes freed pages from now on; VACUUM rewrites the file without the old
    // ones, and the checkpoint empties the WAL that still holds them.
    try writer.writeWithoutTransaction { db in
      try db.execute(sql: "VACUUM")
      try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
    }
  }
}

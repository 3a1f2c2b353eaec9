import CCRC32C
import Foundation

/// A second copy of every queued edit, outside the SQLite file: an append-only file of
/// records `[length u32 LE][CRC-32C u32 LE][sealed Mutation bytes]`, fsynced on each append
/// (sealed with the replica's key, as in the file; a journal written before sealing existed
/// holds clear Mutation bytes until the replica is first opened with a key). If the
/// replica file is damaged (a disk error, a half-copied file, a zeroed header), `orgsync
/// recover` reads the queued edits back from here. It is emptied whenever the outbox is empty
/// (everything in it was accepted by the server).
///
/// Hand-written rather than a library: it is forty lines, and SQLite itself is the thing it
/// must not depend on. A torn last record (power cut mid-append) fails its CRC and is ignored;
/// the edit is still in the SQLite file, which committed first.
struct OutboxJournal: Sendable {
  let path: String

  func append(_ payloads: [[UInt8]]) throws {
    try withLockedFile(flags: O_WRONLY | O_APPEND | O_CREAT) { fd in try write(payloads, to: fd) }
  }

  /// Replaces every record (sealing a journal written before sealing existed). The queued
  /// edits are in the SQLite file already: this is the second copy being rewritten.
  func replace(with payloads: [[UInt8]]) throws {
    try withLockedFile(flags: O_WRONLY | O_CREAT) { fd in
      guard ftruncate(fd, 0) == 0 else { throw ReplicaError("cannot rewrite the edit journal \(path)") }
      try write(payloads, to: fd)
    }
  }

  private func write(_ payloads: [[UInt8]], to fd: Int32) throws {
    var out: [UInt8] = []
    for payload in payloads {
      let crc = payload.withUnsafeBytes { orgsync_crc32c(0, $0.baseAddress, $0.count) }
      for value in [UInt32(payload.count), crc] {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
      }
      out.append(contentsOf: payload)
    }
    try out.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          throw ReplicaError("cannot write the edit journal \(path): \(String(cString: strerror(errno)))")
        }
        offset += written
      }
    }
    guard fsync(fd) == 0 else { throw ReplicaError("cannot flush the edit journal \(path) to disk") }
  }

  /// Every intact record, oldest first (reading stops at the first damaged one).
  func entries() -> [[UInt8]] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let bytes = [UInt8](data)
    var entries: [[UInt8]] = []
    var offset = 0
    func u32(_ at: Int) -> UInt32 {
      bytes[at..<at + 4].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }
    while offset + 8 <= bytes.count {
      let length = Int(u32(offset))
      let crc = u32(offset + 4)
      guard length <= bytes.count - offset - 8 else { break }
      let payload = Array(bytes[offset + 8..<offset + 8 + length])
      guard payload.withUnsafeBytes({ orgsync_crc32c(0, $0.baseAddress, $0.count) }) == crc else { break }
      entries.append(payload)
      offset += 8 + length
    }
    return entries
  }

  /// Empties the journal if `stillQueued` (asked under the journal's lock) is zero.
  func truncate(ifEmpty stillQueued: () throws -> Int) throws {
    try withLockedFile(flags: O_WRONLY | O_CREAT) { fd in
      guard try stillQueued() == 0 else { return }
      guard ftruncate(fd, 0) == 0, fsync(fd) == 0 else { throw ReplicaError("cannot empty the edit journal \(path)") }
    }
  }

  private func withLockedFile(flags: Int32, _ body: (Int32) throws -> Void) throws {
    let fd = open(path, flags | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      throw ReplicaError("cannot open the edit journal \(path): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    flock(fd, LOCK_EX)
    defer { flock(fd, LOCK_UN) }
    try body(fd)
  }
}

import Crypto
import CryptoExtras
import Foundation
import OrgSyncCore

/// The key that seals the records on this computer (AES-256-GCM). A copied disk must not
/// open them, so the key is never written down in the clear: on disk it exists only wrapped,
/// once under the office's passphrase and once under a recovery code printed when it was made
/// (`KeyFile`); unwrapped, it lives in memory and, for the rest of the boot, in a RAM-backed
/// folder (`KeyCache`), so the passphrase is typed once after each start of the PC.
public struct ReplicaKey: Sendable, Equatable {
  let symmetric: SymmetricKey
  /// Names the key (not secret): which key file and which cache entry belong together.
  public let id: [UInt8]

  public init(bytes: [UInt8], id: [UInt8]) {
    symmetric = SymmetricKey(data: bytes)
    self.id = id
  }

  /// A new key with a new id.
  public static func random() -> ReplicaKey {
    ReplicaKey(bytes: randomBytes(32), id: randomBytes(16))
  }

  var bytes: [UInt8] { symmetric.withUnsafeBytes { Array($0) } }

  public static func == (a: ReplicaKey, b: ReplicaKey) -> Bool { a.id == b.id && a.symmetric == b.symmetric }

  static func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
  }
}

/// Seals and opens what the replica keeps: `[1][nonce 12][ciphertext][tag 16]`. A replica in
/// memory (tests) has no key and keeps bytes as they are.
struct Sealer: Sendable {
  let key: ReplicaKey?
  static let format: UInt8 = 1

  func seal(_ bytes: [UInt8]) throws -> Data {
    guard let key else { return Data(bytes) }
    guard let combined = try AES.GCM.seal(bytes, using: key.symmetric).combined else {
      throw ReplicaError("cannot seal a record")
    }
    var out = Data([Self.format])
    out.append(combined)
    return out
  }

  func open(_ data: Data) throws -> [UInt8] {
    guard let key else { return [UInt8](data) }
    do {
      guard data.first == Self.format else { throw ReplicaError("not sealed") }
      return [UInt8](try AES.GCM.open(AES.GCM.SealedBox(combined: data.dropFirst()), using: key.symmetric))
    } catch {
      throw ReplicaError("a record in this computer's data file cannot be opened with its key (damaged?)")
    }
  }
}

/// The key as kept beside the replica (`replica.sqlite.key`, JSON, mode 0600): wrapped under
/// the passphrase and under the recovery code, each with its own salt, by scrypt
/// (N = 2¹⁵, r = 8, p = 1: 32 MiB and a fraction of a second on an old PC, per guess) and
/// AES-GCM with the key's id as authenticated data.
public struct KeyFile: Sendable {
  public static func path(forReplica replica: String) -> String { replica + ".key" }

  struct Wrapped: Codable {
    var salt: String
    var sealed: String
  }
  struct Contents: Codable {
    var format = 1
    var keyID: String
    var kdf = "scrypt"
    var n = 1 << 15
    var r = 8
    var p = 1
    var passphrase: Wrapped
    var recovery: Wrapped
  }

  let contents: Contents
  public var keyID: [UInt8] { Replica.unhex(contents.keyID) ?? [] }

  /// A key wrapped under a new passphrase and a new recovery code (returned, to be written down).
  public static func make(key: ReplicaKey, passphrase: String) throws -> (KeyFile, recoveryCode: String) {
    let recovery = EnrollmentPin.encode(ReplicaKey.randomBytes(20))
    let contents = Contents(
      keyID: Replica.hex(key.id), passphrase: try wrap(key, secret: passphrase),
      recovery: try wrap(key, secret: EnrollmentPin.normalize(recovery)))
    return (KeyFile(contents: contents), EnrollmentPin.grouped(recovery))
  }

  /// The same key under a new passphrase (the recovery code stays).
  public func rewrapped(_ key: ReplicaKey, passphrase: String) throws -> KeyFile {
    var contents = contents
    contents.passphrase = try Self.wrap(key, secret: passphrase)
    return KeyFile(contents: contents)
  }

  /// The key, if `passphrase` opens it (nil when it does not).
  public func unlock(passphrase: String) -> ReplicaKey? {
    unwrap(contents.passphrase, secret: passphrase)
  }

  public func unlock(recoveryCode: String) -> ReplicaKey? {
    unwrap(contents.recovery, secret: EnrollmentPin.normalize(recoveryCode))
  }

  public static func read(path: String) throws -> KeyFile? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    do {
      return KeyFile(contents: try JSONDecoder().decode(Contents.self, from: data))
    } catch {
      throw ReplicaError("the key file \(path) is damaged; unlock with the recovery code after restoring it")
    }
  }

  /// Written to a new file, flushed, then renamed over the old one: a power cut leaves one or the other.
  public func write(path: String) throws {
    let data = try JSONEncoder().encode(contents)
    let temporary = path + ".new"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { throw ReplicaError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
    let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    let flushed = fsync(fd) == 0
    close(fd)
    guard written == data.count, flushed, rename(temporary, path) == 0 else {
      throw ReplicaError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
    Replica.syncDirectory(of: path)
  }

  static func wrap(_ key: ReplicaKey, secret: String) throws -> Wrapped {
    let salt = ReplicaKey.randomBytes(16)
    let box = try AES.GCM.seal(key.bytes, using: try derive(secret, salt: salt, n: 1 << 15), authenticating: key.id)
    guard let combined = box.combined else { throw ReplicaError("cannot wrap the key") }
    return Wrapped(salt: Replica.hex(salt), sealed: combined.base64EncodedString())
  }

  func unwrap(_ wrapped: Wrapped, secret: String) -> ReplicaKey? {
    guard let salt = Replica.unhex(wrapped.salt), let sealed = Data(base64Encoded: wrapped.sealed),
      let derived = try? Self.derive(secret, salt: salt, n: contents.n, r: contents.r, p: contents.p),
      let box = try? AES.GCM.SealedBox(combined: sealed),
      let bytes = try? AES.GCM.open(box, using: derived, authenticating: keyID)
    else { return nil }
    return ReplicaKey(bytes: [UInt8](bytes), id: keyID)
  }

  static func derive(_ secret: String, salt: [UInt8], n: Int, r: Int = 8, p: Int = 1) throws -> SymmetricKey {
    // The same passphrase typed on another keyboard layout or input method may differ in
    // Unicode normalisation; NFC makes them one.
    try KDF.Scrypt.deriveKey(
      from: Array(secret.precomposedStringWithCanonicalMapping.utf8), salt: salt, outputByteCount: 32, rounds: n,
      blockSize: r, parallelism: p)
  }
}

/// Unwrapped keys for the rest of this boot, in a folder in RAM (`$XDG_RUNTIME_DIR/orgsync`,
/// else `/run/user/UID/orgsync` — the same folder for a cron job as for the desktop session —
/// else `/dev/shm/orgsync-UID`), one file per key id, mode 0600 in a 0700 folder owned by the
/// user. A folder that is not RAM-backed (tmpfs or ramfs) is never used: the key would reach
/// the disk. Power off, and the passphrase is needed again.
public struct KeyCache: Sendable {
  public let folder: String?

  public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
    let candidates = [
      environment["XDG_RUNTIME_DIR"].map { $0 + "/orgsync" }, "/run/user/\(getuid())/orgsync",
      "/dev/shm/orgsync-\(getuid())",
    ]
    folder = candidates.compactMap { $0 }.first { Self.usable($0) }
  }

  public func load(id: [UInt8]) -> ReplicaKey? {
    guard let file = file(id), let data = FileManager.default.contents(atPath: file), data.count == 32 else {
      return nil
    }
    return ReplicaKey(bytes: [UInt8](data), id: id)
  }

  /// Keeps the key for this boot; false when there is no RAM-backed folder to keep it in.
  @discardableResult
  public func store(_ key: ReplicaKey) -> Bool {
    guard let file = file(key.id) else { return false }
    let temporary = file + ".new"
    unlink(temporary)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return false }
    let bytes = key.bytes
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    return written == bytes.count && rename(temporary, file) == 0
  }

  public func forget(id: [UInt8]) {
    if let file = file(id) { unlink(file) }
  }

  func file(_ id: [UInt8]) -> String? {
    folder.map { $0 + "/" + Replica.hex(id) }
  }

  /// Creates the folder if needed; usable when it is RAM-backed, ours, not a link and 0700.
  static func usable(_ folder: String) -> Bool {
    let parent = (folder as NSString).deletingLastPathComponent
    guard let real = realpath(parent, nil) else { return false }
    defer { free(real) }
    guard ["tmpfs", "ramfs"].contains(fileSystem(of: String(cString: real))) else { return false }
    mkdir(folder, 0o700)
    var st = stat()
    guard lstat(folder, &st) == 0 else { return false }
    return (st.st_mode & S_IFMT) == S_IFDIR && st.st_uid == getuid() && (st.st_mode & 0o077) == 0
  }

  /// The type of the file system mounted deepest above `path`, from /proc/self/mounts (Glibc's
  /// Swift module does not bring `statfs`, and this needs no C shim).
  static func fileSystem(of path: String) -> String? {
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
    var best: (point: String, type: String)?
    for line in mounts.split(separator: "\n") {
      let parts = line.split(separator: " ")
      guard parts.count >= 3 else { continue }
      let point = parts[1].replacingOccurrences(of: "\\040", with: " ")
      let inside = path == point || point == "/" || path.hasPrefix(point + "/")
      if inside, point.count >= (best?.point.count ?? -1) { best = (point, String(parts[2])) }
    }
    return best?.type
  }
}

import ArgumentParser
import Foundation
import OrgSyncClient

/// Finding the key that opens this computer's data: kept for this boot (`KeyCache`), else
/// unwrapped from the key file with the passphrase — typed at a prompt, or taken from
/// `ORGSYNC_PASSPHRASE` for scripts — else made new, with a new passphrase, for a new data file.
struct KeyAccess {
  let replicaPath: String
  var keyPath: String { KeyFile.path(forReplica: replicaPath) }
  let cache = KeyCache()
  static var environmentPassphrase: String? {
    ProcessInfo.processInfo.environment["ORGSYNC_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }
  }

  func key() throws -> ReplicaKey {
    guard let file = try KeyFile.read(path: keyPath) else { return try makeKey() }
    if let key = cache.load(id: file.keyID) { return key }
    return try unlock(file)
  }

  /// Asks for the passphrase (three tries at a prompt) and keeps the key for this boot.
  func unlock(_ file: KeyFile) throws -> ReplicaKey {
    if let typed = Self.environmentPassphrase {
      guard let key = file.unlock(passphrase: typed) else {
        throw Failure(
          message: Words.pick(
            en: "ORGSYNC_PASSPHRASE does not open this computer's data", zh: "ORGSYNC_PASSPHRASE 中的口令不对，打不开本机数据"),
          code: Exit.locked)
      }
      cache.store(key)
      return key
    }
    guard isatty(STDIN_FILENO) == 1 else {
      throw Failure(message: Words.locked, code: Exit.locked)
    }
    for _ in 0..<3 {
      guard let typed = Self.prompt(Words.pick(en: "Passphrase for this computer's data: ", zh: "请输入本机数据口令：")) else {
        break
      }
      if let key = file.unlock(passphrase: typed) {
        cache.store(key)
        return key
      }
      Self.tell(Words.pick(en: "That passphrase is not right.", zh: "口令不对。"))
    }
    throw Failure(
      message: Words.pick(
        en: "the data stays locked; a forgotten passphrase is replaced with `orgsync unlock --recovery-code`",
        zh: "数据仍然锁着；忘了口令可以用恢复码：orgsync unlock --recovery-code"),
      code: Exit.locked)
  }

  /// A new key for a new data file, or for one written before its records were sealed.
  func makeKey() throws -> ReplicaKey {
    if FileManager.default.fileExists(atPath: replicaPath), Replica.isSealed(path: replicaPath) {
      throw Failure(
        message: Words.pick(
          en: "the key file \(keyPath) is missing; put it back from the backup (the data cannot be opened without it)",
          zh: "密钥文件 \(keyPath) 不见了，请从备份中恢复（没有它打不开数据）"),
        code: Exit.locked)
    }
    let passphrase = try Self.newPassphrase()
    let key = ReplicaKey.random()
    let (file, recoveryCode) = try KeyFile.make(key: key, passphrase: passphrase)
    try file.write(path: keyPath)
    cache.store(key)
    Self.tell(
      Words.pick(
        en: """
          This computer's data is locked with the passphrase just set; type it once after each start of the PC.
          Recovery code, for a forgotten passphrase — write it down and keep it apart from this PC:
              \(recoveryCode)
          """,
        zh: """
          本机数据已用刚设置的口令加密；每次开机后输入一次口令即可。
          恢复码（忘记口令时使用）——请抄下来，与电脑分开保管：
              \(recoveryCode)
          """))
    return key
  }

  /// A new passphrase: from ORGSYNC_NEW_PASSPHRASE or ORGSYNC_PASSPHRASE, else typed twice.
  static func newPassphrase() throws -> String {
    let environment = ProcessInfo.processInfo.environment
    if let typed = environment["ORGSYNC_NEW_PASSPHRASE"].flatMap({ $0.isEmpty ? nil : $0 }) ?? environmentPassphrase {
      return try checked(typed)
    }
    guard isatty(STDIN_FILENO) == 1 else {
      throw Failure(
        message: Words.pick(
          en: "this computer's data needs a passphrase: run `orgsync unlock` at a terminal to set one",
          zh: "本机数据需要设置口令：请在终端运行 orgsync unlock 设置"),
        code: Exit.locked)
    }
    for _ in 0..<3 {
      guard
        let first = prompt(
          Words.pick(
            en: "Choose a passphrase for this computer's data (6 characters or more): ", zh: "请为本机数据设置口令（至少 6 个字）：")),
        let second = prompt(Words.pick(en: "Type it again: ", zh: "请再输入一次："))
      else { break }
      guard first == second else {
        tell(Words.pick(en: "The two were not the same.", zh: "两次输入不一致。"))
        continue
      }
      do { return try checked(first) } catch let failure as Failure { tell(failure.message) }
    }
    throw Failure(
      message: Words.pick(en: "no passphrase was set; nothing was changed", zh: "没有设置口令，数据未改动"), code: Exit.locked)
  }

  static func checked(_ passphrase: String) throws -> String {
    guard passphrase.count >= 6 else {
      throw Failure(
        message: Words.pick(en: "a passphrase needs 6 characters or more", zh: "口令至少要 6 个字"), code: Exit.usage)
    }
    return passphrase
  }

  /// Reads a line from the terminal without echoing it.
  static func prompt(_ text: String) -> String? {
    guard let typed = getpass(text) else { return nil }
    return String(cString: typed)
  }

  static func tell(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
  }
}

/// Words in the user's language: Chinese under a Chinese locale, else English.
enum Words {
  static func pick(en: String, zh: String) -> String { OutputOptions.chineseLocale ? zh : en }
  static var locked: String {
    pick(
      en: "this computer's data is locked since the PC started: run `orgsync unlock` and type the passphrase",
      zh: "开机后本机数据处于锁定状态：请运行 orgsync unlock 并输入口令")
  }
}

struct Unlock: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Type the passphrase once after the PC starts, so that this computer's data can be read and synced.",
    discussion:
      "Records on this computer are kept encrypted; the key is opened with the passphrase and kept in memory until the PC is switched off. With --recovery-code, the code printed when the passphrase was first set opens the data and a new passphrase is chosen."
  )
  @OptionGroup var common: Common
  @Flag(help: "Use the recovery code (for a forgotten passphrase) and choose a new passphrase.")
  var recoveryCode = false

  func run() throws {
    try common.makeFolder()
    let access = KeyAccess(replicaPath: common.replicaPath)
    guard recoveryCode else {
      _ = try access.key()
      print(Words.pick(en: "unlocked until the PC is switched off", zh: "已解锁，关机前不必再输入口令"))
      return
    }
    guard let file = try KeyFile.read(path: access.keyPath) else {
      throw Failure(message: Words.pick(en: "there is no key file to open yet", zh: "还没有密钥文件"), code: Exit.usage)
    }
    guard
      let typed = ProcessInfo.processInfo.environment["ORGSYNC_RECOVERY_CODE"]
        ?? KeyAccess.prompt(Words.pick(en: "Recovery code: ", zh: "恢复码：")),
      let key = file.unlock(recoveryCode: typed)
    else {
      throw Failure(
        message: Words.pick(en: "that recovery code does not open this computer's data", zh: "恢复码不对，打不开本机数据"),
        code: Exit.locked)
    }
    try file.rewrapped(key, passphrase: try KeyAccess.newPassphrase()).write(path: access.keyPath)
    access.cache.store(key)
    print(Words.pick(en: "new passphrase set; unlocked", zh: "新口令已设置，已解锁"))
  }
}

struct Lock: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Forget the opened key now (the passphrase is needed again), e.g. before leaving the PC.")
  @OptionGroup var common: Common

  func run() throws {
    if let file = try KeyFile.read(path: KeyFile.path(forReplica: common.replicaPath)) {
      KeyCache().forget(id: file.keyID)
    }
    print(Words.pick(en: "locked", zh: "已锁定"))
  }
}

struct Passphrase: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Change the passphrase of this computer's data (the recovery code stays the same).")
  @OptionGroup var common: Common

  func run() throws {
    let access = KeyAccess(replicaPath: common.replicaPath)
    guard let file = try KeyFile.read(path: access.keyPath) else {
      throw Failure(message: Words.pick(en: "there is no key file yet", zh: "还没有密钥文件"), code: Exit.usage)
    }
    // The current passphrase is asked even when the key is open: whoever finds the PC
    // unlocked must not be able to lock its owner out.
    let key = try access.unlock(file)
    try file.rewrapped(key, passphrase: try KeyAccess.newPassphrase()).write(path: access.keyPath)
    print(Words.pick(en: "passphrase changed", zh: "口令已更改"))
  }
}

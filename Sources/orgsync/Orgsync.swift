import ArgumentParser
import Foundation
import NIOSSL
import OrgSyncAPI
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC

/// Exit codes, documented in `orgsync --help` and the README.
enum Exit {
  static let usage: Int32 = 64  // a bad command line
  static let badValue: Int32 = 65  // a value that cannot be stored
  static let notAllowed: Int32 = 67  // this device may not make that change (nothing was saved)
  static let refused: Int32 = 68  // a sync went through but the server refused some edits (kept)
  static let unavailable: Int32 = 69  // the server cannot be reached
  static let software: Int32 = 70  // something unexpected
  static let notEnrolled: Int32 = 77  // enrol first, or the server refused this device
  static let damaged: Int32 = 74  // the data file is damaged: run `orgsync recover`
  static let locked: Int32 = 75  // the data is locked: run `orgsync unlock` (once after each start of the PC)
  static let untrustedServer: Int32 = 76  // the server's certificate is not the county's: tell the county office
  static let diskFull: Int32 = 73  // the disk is full: free space (nothing was lost, nothing is damaged)
}

/// A failure with words for the user and an exit code.
struct Failure: Error, CustomStringConvertible {
  var message: String
  var code: Int32
  var description: String { message }
}

@main
struct Orgsync: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "orgsync",
    abstract: "Keep a unit's records on this computer, work offline, and sync with the OrgSync server.",
    discussion: """
      Data lives in $ORGSYNC_HOME (default ~/.orgsync). Record types: \(RecordPresentation.typeNames.keys.sorted().joined(separator: ", ")).
      Exit codes: 0 done; 64 bad command line; 65 a value that cannot be stored; 69 server unreachable (edits stay queued); \
      67 this device may not make that change (nothing saved); 68 synced, but the server refused some edits (kept: see `orgsync rejected`); \
      70 unexpected error; 74 this computer's data file is damaged (run `orgsync recover`: queued edits are kept); \
      75 this computer's data is locked (run `orgsync unlock` and type the passphrase, once after each start of the PC); \
      76 the server's certificate is not signed by the county's authority (not an outage: tell the county office); \
      73 the disk is full (free space and try again; nothing was lost); \
      77 not enrolled or refused by the server (`orgsync enroll --replace` keeps queued edits).
      """,
    version: OrgSyncVersion.current,
    subcommands: [
      Enroll.self, Add.self, Edit.self, Delete.self, Move.self, List.self, Show.self, Sync.self, Status.self,
      Conflicts.self, Rejected.self, Verify.self, Aggregate.self, Export.self, Recover.self, Held.self, Unlock.self,
      Lock.self, Passphrase.self, UI.self, Stats.self, Lists.self,
    ])

  static func main() async {
    do {
      var command = try parseAsRoot()
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        try command.run()
      }
    } catch let failure as Failure {
      FileHandle.standardError.write(Data("orgsync: \(failure.message)\n".utf8))
      Foundation.exit(failure.code)
    } catch let error as ReplicaError {
      FileHandle.standardError.write(Data("orgsync: \(error.message)\n".utf8))
      Foundation.exit(Exit.badValue)
    } catch let rejection as Rejection {
      // The device's own copy of the server's rules said no: nothing was queued.
      let field = rejection.field.isEmpty ? "" : FieldInput.flag(rejection.field) + ": "
      let message = Words.pick(
        en: "\(field)\(rejection.reason); nothing was saved",
        zh: "\(Reasons.chinese(rejection.reason, field: rejection.field))；没有保存（nothing was saved）")
      FileHandle.standardError.write(Data("orgsync: \(message)\n".utf8))
      Foundation.exit(rejection.code == .permission ? Exit.notAllowed : Exit.badValue)
    } catch let error as InputError {
      FileHandle.standardError.write(Data("orgsync: \(error.message)\n".utf8))
      Foundation.exit(Exit.badValue)
    } catch let error as RPCError where error.isUntrustedServer {
      // Not an outage: someone else's server, or one set up again without the county's authority.
      let message = Words.pick(
        en: "\(error.message) — this may not be the county's server: tell the county office; nothing entered is lost",
        zh: "服务器出示的证书不是县里的证书机构签发的，这可能不是县里的服务器：请告诉县委组织部。录入的内容都保存在本机，不会丢失")
      FileHandle.standardError.write(Data("orgsync: \(message)\n".utf8))
      Foundation.exit(Exit.untrustedServer)
    } catch let error as RPCError {
      let (code, hint) = Self.describe(error)
      FileHandle.standardError.write(Data("orgsync: \(error.message)\(hint)\n".utf8))
      Foundation.exit(code)
    } catch let error where DiskFull.isDiskFull(error, folder: Common.defaultFolder.path) {
      Self.diskFull(Common.defaultFolder.path)
    } catch let damage as ReplicaDamaged {
      Self.damaged(damage.description)
    } catch let error where ReplicaDamaged.isDamage(error) {
      Self.damaged("this computer's data file is damaged (\(error))")
    } catch {
      exit(withError: error)
    }
  }

  static func diskFull(_ folder: String) -> Never {
    let message = Words.pick(
      en: "the disk holding \(folder) is full — free some space (delete or move large files) and try again; "
        + "nothing entered is lost, and the data file is not damaged",
      zh: "本机磁盘已满：请删除或移走一些大文件，腾出空间后再试。已录入的内容都没有丢失，数据文件也没有损坏。")
    FileHandle.standardError.write(Data("orgsync: \(message)\n".utf8))
    Foundation.exit(Exit.diskFull)
  }

  static func damaged(_ what: String) -> Never {
    FileHandle.standardError.write(
      Data(
        ("orgsync: \(what).\n"
          + Words.pick(
            en: "Run `orgsync recover`: it keeps this computer's enrolment and every queued edit, sets the damaged "
              + "file aside and fetches the rest from the server on the next sync.\n",
            zh: "本机数据文件损坏了。请运行 orgsync recover：登记信息和所有待上传的修改都会保留，"
              + "损坏的文件另存一边，其余数据在下次同步时从服务器重新取回。\n")).utf8))
    Foundation.exit(Exit.damaged)
  }

  static func describe(_ error: RPCError) -> (Int32, String) {
    switch error.code {
    case .unavailable, .deadlineExceeded:
      (
        Exit.unavailable,
        Words.pick(
          en: " — check the network and run `orgsync sync` again; nothing entered is lost",
          zh: " — 现在连不上服务器：请检查网络后再运行 orgsync sync；录入的内容都保存在本机，不会丢失")
      )
    case .unauthenticated:
      (
        Exit.notEnrolled,
        Words.pick(
          en: " — ask the county office for a new enrolment code and run `orgsync enroll --replace --code CODE`"
            + " (queued edits are kept)",
          zh: " — 请向县委组织部要一个新的登记码，然后运行 orgsync enroll --replace --code 登记码（待上传的修改会保留）")
      )
    case .permissionDenied:
      (Exit.notEnrolled, " — this device may not do that")
    case .invalidArgument, .notFound, .failedPrecondition, .alreadyExists, .outOfRange:
      (Exit.badValue, "")
    default:
      (Exit.software, "")
    }
  }
}

/// Options every command shares.
struct Common: ParsableArguments {
  @Option(help: "The folder with this device's data (default $ORGSYNC_HOME or ~/.orgsync).")
  var home: String?

  /// The data folder as the command line names it, for errors met before or outside a
  /// command's own options (a full disk is told by the folder's file system).
  static var defaultFolder: URL {
    let arguments = CommandLine.arguments
    let given = arguments.firstIndex(of: "--home").flatMap {
      arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil
    }
    return Common(home: given).folder
  }

  init() {}
  init(home: String?) { self.home = home }

  var folder: URL {
    let path =
      home ?? ProcessInfo.processInfo.environment["ORGSYNC_HOME"]
      ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".orgsync").path
    return URL(fileURLWithPath: path)
  }

  func makeFolder() throws {
    try FileManager.default.createDirectory(
      at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  /// The key of this computer's data (asks for the passphrase once after each start of the PC).
  func replicaKey() throws -> ReplicaKey {
    try makeFolder()
    return try KeyAccess(replicaPath: replicaPath).key()
  }

  func replica() throws -> Replica {
    let key = try replicaKey()
    do {
      return try Replica(path: replicaPath, key: key)
    } catch let error where ReplicaDamaged.isDamage(error) {
      throw ReplicaDamaged(path: replicaPath, detail: "\(error)")
    }
  }

  var replicaPath: String { folder.appendingPathComponent("replica.sqlite").path }

  /// The replica of an enrolled device and its identity.
  /// The office's 三会一课 standard: `life-standard.json` in the data folder when there is one,
  /// else the regulations' defaults.
  func lifeStandard() throws -> LifeStandard {
    let file = folder.appendingPathComponent("life-standard.json")
    guard let data = FileManager.default.contents(atPath: file.path) else { return .standard }
    do {
      return try LifeStandard.load(json: [UInt8](data))
    } catch {
      throw Failure(message: "\(file.path): \(error)", code: Exit.usage)
    }
  }

  func enrolled() throws -> (Replica, Replica.Identity) {
    let replica = try replica()
    guard let identity = try replica.identity() else {
      throw Failure(
        message: "this computer is not enrolled yet: run `orgsync enroll --server HOST:PORT --code CODE`",
        code: Exit.notEnrolled)
    }
    return (replica, identity)
  }

  func client(_ identity: Replica.Identity, replica: Replica) throws -> RPCClient {
    try RPCClient(configuration: try clientConfiguration(identity, replica: replica))
  }

  func clientConfiguration(_ identity: Replica.Identity, replica: Replica) throws -> RPCClient.Configuration {
    let (host, port) = try Endpoint.parse(identity.server)
    var configuration = RPCClient.Configuration(
      host: host, port: port, identity: ClientIdentity(deviceID: identity.deviceID, secret: identity.secret),
      tls: try Self.tls(pem: try replica.trustedAuthority()), connectTimeout: .seconds(15))
    // Compressed pages are the default; ORGSYNC_COMPRESSION=off turns the offer off (to measure
    // the difference, or to rule it out when a link misbehaves).
    configuration.compression = ProcessInfo.processInfo.environment["ORGSYNC_COMPRESSION"] != "off"
    return configuration
  }

  /// TLS that trusts only the given authority (the county's own CA), or nil for plain TCP.
  static func tls(pem: String?) throws -> TLSConfiguration? {
    guard let pem else { return nil }
    var tls = TLSConfiguration.makeClientConfiguration()
    do {
      tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
    } catch {
      throw Failure(message: "the certificate authority is not a PEM certificate", code: Exit.badValue)
    }
    return tls
  }
}

enum Endpoint {
  static func parse(_ text: String) throws -> (String, Int) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (1...65535).contains(port), colon != text.startIndex
    else {
      throw Failure(
        message: "the server must be given as HOST:PORT, e.g. 10.1.2.3:7443 (got '\(text)')", code: Exit.usage)
    }
    return (String(text[..<colon]), port)
  }
}

struct OutputOptions: ParsableArguments {
  @Flag(help: "Print JSON.") var json = false
  @Flag(help: "Print CSV (for Excel when the locale is Chinese: see --excel).") var csv = false
  @Flag(help: "Print CSV for Excel: UTF-8 with a byte-order mark and CRLF line ends.") var excel = false
  @Flag(help: "Print plain UTF-8 CSV even under a Chinese locale.") var plainCsv = false

  var format: OutputFormat {
    if json { return .json }
    if excel || (csv && Self.chineseLocale && !plainCsv) { return .excel }
    return csv || plainCsv ? .csv : .table
  }

  /// LC_ALL, LC_MESSAGES or LANG names Chinese (zh_CN.UTF-8 and the like).
  static var chineseLocale: Bool {
    let environment = ProcessInfo.processInfo.environment
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? ""
    return locale.lowercased().hasPrefix("zh")
  }
}

/// Parses a record type word.
func recordType(_ word: String) throws -> Orgsync_V1_RecordType {
  guard let type = RecordPresentation.typeNames[word] else {
    throw Failure(
      message:
        "unknown record type '\(word)'; one of: \(RecordPresentation.typeNames.keys.sorted().joined(separator: ", "))",
      code: Exit.usage)
  }
  return type
}

func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

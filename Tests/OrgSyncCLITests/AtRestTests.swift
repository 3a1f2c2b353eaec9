import Foundation
import Testing

@Suite("Personal data at rest")
struct AtRestTests {
  @Test("a copy of the village PC's data folder shows no member's name or phone, and opens only with the passphrase")
  func copiedDisk() async throws {
    let daemon = try await Daemon()
    try await daemon.start()
    let branch = daemon.folder.appendingPathComponent("branch")
    let code = try await daemon.code(unit: "430521-100-001", role: "branch")
    let enrolled = try await Tool.run(
      "orgsync", ["enroll", "--server", "127.0.0.1:\(daemon.port)", "--code", code], home: branch)
    #expect(enrolled.status == 0, "\(enrolled.err)")
    #expect(enrolled.err.contains("Recovery code"), "the recovery code is shown when the passphrase is set")

    // One member synced (in the server copy, the sent log and the local view), one still
    // queued (in the outbox and the edit journal).
    let member = ["add", "member", "--status", "正式党员", "--gender", "女", "--birth-date", "1968-03-08"]
    let synced = member + ["--name", "王秀英", "--phone", "13812345678", "--note", "家住村东头"]
    #expect(try await Tool.run("orgsync", synced, home: branch).status == 0)
    #expect(try await Tool.run("orgsync", ["sync"], home: branch).status == 0)
    await daemon.stop()
    let queued = member + ["--name", "欧阳春花", "--phone", "13987654321"]
    let added = try await Tool.run("orgsync", queued, home: branch)
    #expect(added.status == 0, "\(added.err)")
    let listed = try await Tool.run("orgsync", ["list", "member", "--json"], home: branch)
    #expect(listed.out.contains("王秀英") && listed.out.contains("欧阳春花"), "the owner reads them")

    // The disk copied as a thief would: every file of the folder.
    let copy = daemon.folder.appendingPathComponent("copied-disk")
    try FileManager.default.copyItem(at: branch, to: copy)
    let secrets = ["王秀英", "13812345678", "家住村东头", "欧阳春花", "13987654321"]
    var files = 0
    for case let file as URL in FileManager.default.enumerator(at: copy, includingPropertiesForKeys: nil)! {
      guard let bytes = FileManager.default.contents(atPath: file.path), !bytes.isEmpty else { continue }
      files += 1
      for secret in secrets {
        #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file.lastPathComponent) holds \(secret) in the clear")
      }
    }
    #expect(files >= 3, "the data file, its journal and its key file were copied")
    // The same search finds them where they are kept in the clear: the server's own file.
    let serverFiles = ["", "-wal"].compactMap {
      FileManager.default.contents(atPath: daemon.data + "/server.sqlite" + $0)
    }
    #expect(serverFiles.contains { $0.range(of: Data("13812345678".utf8)) != nil }, "the search itself works")

    // The copy does not open without the passphrase; with it, everything is there.
    let elsewhere = "/dev/shm/orgsync-tests-\(getpid())-elsewhere"
    mkdir(elsewhere, 0o700)
    defer { try? FileManager.default.removeItem(atPath: elsewhere) }
    let locked = try await Tool.run(
      "orgsync", ["list", "member"], home: copy, environment: ["ORGSYNC_PASSPHRASE": "", "XDG_RUNTIME_DIR": elsewhere])
    #expect(locked.status == 75)
    #expect(locked.err.contains("orgsync unlock"))
    #expect(!locked.out.contains("王秀英"))
    let wrong = try await Tool.run(
      "orgsync", ["list", "member"], home: copy,
      environment: ["ORGSYNC_PASSPHRASE": "123456", "XDG_RUNTIME_DIR": elsewhere])
    #expect(wrong.status == 75)
    let opened = try await Tool.run(
      "orgsync", ["list", "member", "--json"], home: copy, environment: ["XDG_RUNTIME_DIR": elsewhere])
    #expect(opened.status == 0, "\(opened.err)")
    #expect(opened.out.contains("王秀英") && opened.out.contains("欧阳春花"))
  }

  @Test("a forgotten passphrase: the recovery code opens the data and sets a new one; the old one no longer opens it")
  func recoveryCode() async throws {
    let home = FileManager.default.temporaryDirectory.appendingPathComponent("orgsync-key-\(UUID())")
    defer { try? FileManager.default.removeItem(at: home) }
    let elsewhere = "/dev/shm/orgsync-tests-\(getpid())-\(UUID())"
    mkdir(elsewhere, 0o700)
    defer { try? FileManager.default.removeItem(atPath: elsewhere) }
    let first = try await Tool.run("orgsync", ["status"], home: home, environment: ["XDG_RUNTIME_DIR": elsewhere])
    let code = try #require(
      first.err.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first {
        $0.count == 39 && $0.filter { $0 == "-" }.count == 7
      }, "the recovery code is printed in eight groups: \(first.err)")
    #expect(
      try await Tool.run("orgsync", ["lock"], home: home, environment: ["XDG_RUNTIME_DIR": elsewhere]).status == 0)
    let recovered = try await Tool.run(
      "orgsync", ["unlock", "--recovery-code"], home: home,
      environment: [
        "XDG_RUNTIME_DIR": elsewhere, "ORGSYNC_RECOVERY_CODE": code.lowercased(), "ORGSYNC_NEW_PASSPHRASE": "新的口令很长",
      ])
    #expect(recovered.status == 0, "\(recovered.err)")
    #expect(
      try await Tool.run("orgsync", ["lock"], home: home, environment: ["XDG_RUNTIME_DIR": elsewhere]).status == 0)
    let old = try await Tool.run("orgsync", ["status"], home: home, environment: ["XDG_RUNTIME_DIR": elsewhere])
    #expect(old.status == 75, "the old passphrase no longer opens it")
    let new = try await Tool.run(
      "orgsync", ["status"], home: home, environment: ["XDG_RUNTIME_DIR": elsewhere, "ORGSYNC_PASSPHRASE": "新的口令很长"])
    #expect(new.status == 77, "opened, it goes on to say the PC is not enrolled yet: \(new.err)")
  }
}

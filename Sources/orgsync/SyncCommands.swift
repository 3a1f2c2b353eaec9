import ArgumentParser
import Foundation
import OrgSyncAPI
import OrgSyncCLI
import OrgSyncClient
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import Synchronization

struct Sync: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Send queued edits and fetch what is new. Safe to interrupt and run again.")
  @OptionGroup var common: Common

  func run() async throws {
    let (replica, identity) = try common.enrolled()
    let client = try common.client(identity, replica: replica)
    defer { Task { await client.close() } }
    let engine = SyncEngine(replica: replica, client: client)
    let terminal = isTerminal(STDOUT_FILENO)
    let lastPhase = Mutex<SyncProgress.Phase?>(nil)
    let report = try await engine.sync { progress in
      if terminal {
        ProgressBar.draw(progress)
      } else {
        let changed = lastPhase.withLock { last in
          defer { last = progress.phase }
          return last != progress.phase
        }
        if changed, progress.phase != .done { print("\(progress.phase)…") }
      }
    }
    if terminal { ProgressBar.finish() }
    var line = Words.pick(
      en: "synced: sent \(report.pushed), received \(report.pulled)",
      zh: "同步完成：上传 \(report.pushed) 条，收到 \(report.pulled) 条")
    if report.rejected > 0 {
      line += Words.pick(
        en: ", \(report.rejected) REFUSED (see `orgsync rejected`: the typed values are kept)",
        zh: "，\(report.rejected) 条被退回 REFUSED（录入的内容都保留着：见 orgsync rejected）")
    }
    if report.conflicts > 0 {
      line += Words.pick(
        en: ", \(report.conflicts) open conflicts (see `orgsync conflicts list`)",
        zh: "，\(report.conflicts) 个冲突待处理（见 orgsync conflicts list）")
    }
    if report.reset {
      line += Words.pick(
        en: "; this unit moved in the tree, its data was fetched afresh", zh: "；本单位的上级变了，数据已重新取回")
    }
    print(line)
    if report.healed {
      print(
        "the server had been restored from an older copy: this computer offered back \(report.offeredAgain) "
          + "accepted edits and fetched everything again")
    }
    if report.held > 0 {
      print(
        "\(report.held) records the server no longer has are kept on this computer (`orgsync held`; their"
          + " authors' devices send them back when they sync)")
    }
    if report.rejected > 0 {
      // Everything else was done; the exit code tells a script (or a timer) to look.
      throw ExitCode(Exit.refused)
    }
  }
}

struct Held: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Records kept on this computer because the server lost them and this device may not write them back.",
    discussion:
      "They leave this list by themselves once the device that wrote them has synced with the restored server. Until then they are here, with every field (`--json`)."
  )
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions

  func run() async throws {
    let (replica, _) = try common.enrolled()
    let namer = try unitNamer(replica)
    var table = Table(columns: ["id", "type", "unit", "fields"])
    for record in try replica.heldRecords() {
      let fields = RecordPresentation.fields(of: record.body, unitName: namer)
        .map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
      table.rows.append([
        output.format == .table ? RecordPresentation.shortID(record.id) : RecordID.string(record.id),
        RecordPresentation.word(for: record.type), namer(record.unitID) ?? "", fields,
      ])
    }
    print(table.render(output.format))
  }
}

struct Recover: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Rebuild a damaged data file, keeping this computer's enrolment and every queued edit.",
    discussion:
      "The damaged file is set aside (never deleted). Queued edits come from the edit journal kept beside the data file and from whatever of the damaged file can still be read. The records themselves come back from the server with the next `orgsync sync`."
  )
  @OptionGroup var common: Common
  @Flag(help: "Rebuild even if the file looks sound.") var force = false

  func run() async throws {
    let path = common.replicaPath
    // Rebuilding writes a new file beside the old one: on a full disk it would fail half way.
    // A full disk damages nothing, so there is nothing to recover until space is freed.
    if let free = DiskFull.freeBytes(common.folder.path), free < DiskFull.minimumFree {
      Orgsync.diskFull(common.folder.path)
    }
    let key = try common.replicaKey()
    if !force, FileManager.default.fileExists(atPath: path) {
      if let replica = try? Replica(path: path, key: key), (try? replica.integrityProblem()) == .some(nil),
        (try? replica.identity()) != nil
      {
        print("the data file is sound; nothing to recover (use --force to rebuild it anyway)")
        return
      }
    }
    let (salvage, aside) = try Replica.recover(path: path, key: key)
    print("set the damaged data file aside as \(aside)")
    print(
      "kept the enrolment (\(salvage.identity?.unitName ?? "")) and \(salvage.queued.count) queued edits"
        + (salvage.fromFile > 0 ? " (\(salvage.fromFile) read from the damaged file)" : ""))
    print("next: orgsync sync   (fetches this unit's records from the server again)")
  }
}

enum ProgressBar {
  static func draw(_ p: SyncProgress) {
    let width = 30
    let filled = p.total > 0 ? min(width, width * p.done / p.total) : 0
    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
    let counts = p.total > 0 ? "\(p.done)/\(p.total)" : "\(p.done)"
    let bytes = p.bytes > 0 ? String(format: " %.1f MB", Double(p.bytes) / 1_000_000) : ""
    FileHandle.standardOutput.write(Data("\r\(p.phase) [\(bar)] \(counts)\(bytes)   ".utf8))
  }

  static func finish() { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
}

struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Last sync, queued edits, refusals and conflicts.")
  @OptionGroup var common: Common
  @OptionGroup var output: OutputOptions

  func run() async throws {
    let (replica, identity) = try common.enrolled()
    let status = try replica.status()
    let last = status.lastSync.map {
      ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0) / 1000))
    }
    var table = Table(
      columns: ["unit", "role", "server", "last sync", "records", "queued", "refused", "open conflicts", "kept aside"],
      rows: [
        [
          identity.unitName, roleName(identity.role), identity.server, last ?? "never", String(status.records),
          String(status.outbox), String(status.rejected), String(status.openConflicts),
          String(try replica.heldCount()),
        ]
      ])
    for column in ["records", "queued", "refused", "open conflicts", "kept aside"] { table.kinds[column] = .integer }
    if output.format == .table {
      for (column, value) in zip(table.columns, table.rows[0]) {
        print(column.padding(toLength: 16, withPad: " ", startingAt: 0) + value)
      }
    } else {
      print(table.render(output.format))
    }
  }
}

struct Rejected: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Edits the server refused: the reason and what was typed. Show, retry (changed) or discard them.",
    subcommands: [ListRejected.self, ShowRejected.self, RetryRejected.self, DiscardRejected.self],
    defaultSubcommand: ListRejected.self)

  /// What was typed, as `field=value` pairs.
  static func values(_ m: Orgsync_V1_Mutation) -> String {
    if m.delete { return "(delete)" }
    let fields = RecordPresentation.fields(of: m.body)
    let named = m.fields.isEmpty ? fields : fields.filter { m.fields.contains($0.name) }
    return named.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
  }

  struct ListRejected: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Refused edits still to settle.")
    @OptionGroup var common: Common
    @OptionGroup var output: OutputOptions

    func run() async throws {
      let (replica, _) = try common.enrolled()
      var table = Table(columns: ["edit", "record", "type", "field", "reason", "typed"])
      for r in try replica.rejected() {
        let short = output.format == .table
        table.rows.append([
          short ? RecordPresentation.shortID(r.mutationID) : RecordID.string(r.mutationID),
          short ? RecordPresentation.shortID(r.recordID) : RecordID.string(r.recordID),
          RecordPresentation.word(for: r.type), r.field, r.reason, Rejected.values(r.mutation),
        ])
      }
      print(table.render(output.format))
      if output.format == .table, !table.rows.isEmpty {
        print("settle each: orgsync rejected retry EDIT [--field value …] | orgsync rejected discard EDIT")
      }
    }
  }

  struct ShowRejected: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "One refused edit in full.")
    @OptionGroup var common: Common
    @Argument(help: "The edit's id, or its record's, or their last 6–8 digits.") var id: String

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let r = try replica.rejectedEdit(id)
      print("edit:    \(RecordID.string(r.mutationID))")
      print("record:  \(RecordID.string(r.recordID)) (\(RecordPresentation.word(for: r.type)))")
      print("refused: \(r.field.isEmpty ? "" : FieldInput.flag(r.field) + ": ")\(r.reason)")
      if r.mutation.delete {
        print("typed:   delete the record")
      } else {
        print("typed:")
        let fields = RecordPresentation.fields(of: r.mutation.body)
        for field in fields where r.mutation.fields.isEmpty || r.mutation.fields.contains(field.name) {
          print("  \(FieldInput.flag(field.name)) \(field.value)")
        }
      }
      print("then: orgsync rejected retry \(RecordPresentation.shortID(r.mutationID)) [--field value …]  or  discard")
    }
  }

  struct RetryRejected: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "retry", abstract: "Queue a refused edit again, changed by --field value pairs if given.")
    @OptionGroup var common: Common
    @Argument(help: "The edit's id, or its record's, or their last 6–8 digits.") var id: String
    @Argument(parsing: .allUnrecognized, help: "--field value pairs that change what was typed.") var values: [String] =
      []

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let r = try replica.rejectedEdit(id)
      var changes: Orgsync_V1_RecordBody?
      var fields: [String] = []
      if !values.isEmpty {
        var input = try FieldInput(type: r.type)
        input.lookupUnit = try unitLookup(replica)
        input.lookupRecord = recordLookup(replica)
        (changes, fields) = try input.parse(values, onto: r.mutation.body)
        try replica.validate(changes!, unitID: Array(r.mutation.unitID), today: CalendarDate.today())
      }
      let queued = try replica.retryRejected(r.mutationID, changes: changes, fields: fields)
      print("queued again as \(RecordPresentation.shortID(Array(queued.mutationID))); run `orgsync sync`")
    }
  }

  struct DiscardRejected: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "discard", abstract: "Drop a refused edit for good (what was typed is gone).")
    @OptionGroup var common: Common
    @Argument(help: "The edit's id, or its record's, or their last 6–8 digits.") var id: String

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let r = try replica.rejectedEdit(id)
      try replica.discardRejected(r.mutationID)
      print("discarded the refused edit of \(RecordPresentation.shortID(r.recordID))")
    }
  }
}

struct Conflicts: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Edits that met another edit of the same field.",
    subcommands: [ListConflicts.self, ShowConflict.self, ResolveConflict.self], defaultSubcommand: ListConflicts.self)

  struct ListConflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Open conflicts.")
    @OptionGroup var common: Common
    @OptionGroup var output: OutputOptions
    @Flag(help: "Resolved ones too.") var all = false

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let unitName = try unitNamer(replica)
      var table = Table(columns: ["conflict", "record", "type", "fields", "kept", "lost", "status"])
      for c in try replica.conflicts(includeResolved: all) {
        let fields = c.fields
        let kept = fields.map { RecordPresentation.value($0, of: c.winner) }.joined(separator: "; ")
        let deleted = c.kind == .deleteVsEdit || c.kind == .editVsDelete
        let lost =
          deleted
          ? "(delete)"
          : c.kind == .moveVsEdit
            ? "(moved; both kept)" : fields.map { RecordPresentation.value($0, of: c.loser) }.joined(separator: "; ")
        table.rows.append([
          RecordPresentation.shortID(Array(c.id)), RecordPresentation.shortID(Array(c.recordID)),
          RecordPresentation.word(for: c.type), fields.joined(separator: ","), kept, lost,
          Conflicts.status(c, unitName: unitName),
        ])
      }
      print(table.render(output.format))
    }
  }

  struct ShowConflict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Both values of a conflict.")
    @OptionGroup var common: Common
    @Argument(help: "The conflict's id (or its last digits).") var id: String

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let conflict = try find(replica, id)
      print("record: \(RecordID.string(Array(conflict.recordID))) (\(RecordPresentation.word(for: conflict.type)))")
      let deleted = conflict.kind == .deleteVsEdit || conflict.kind == .editVsDelete
      if deleted {
        print(
          conflict.kind == .deleteVsEdit
            ? "a delete met edits it had not seen: the record was kept with them"
            : "an edit met a delete it had not seen: the record came back with it")
      }
      for field in conflict.fields {
        print("\(FieldInput.flag(field)):")
        print("  kept: \(RecordPresentation.value(field, of: conflict.winner))")
        if !deleted { print("  lost: \(RecordPresentation.value(field, of: conflict.loser))") }
      }
      if deleted { print("lost: the delete (--keep mine deletes the record again)") }
      print(
        "resolve with: orgsync conflicts resolve \(RecordPresentation.shortID(Array(conflict.id))) --keep mine|theirs")
    }
  }

  struct ResolveConflict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "resolve", abstract: "Keep mine, keep theirs, or set new values (--field value).")
    @OptionGroup var common: Common
    @Argument(help: "The conflict's id (or its last digits).") var id: String
    @Option(
      help:
        "mine (typed on this PC) or theirs (typed on the other PC); kept (the value the server keeps now) or lost (the one that lost)."
    ) var keep: String?
    @Argument(parsing: .allUnrecognized, help: "New values as --field value.") var values: [String] = []

    func run() async throws {
      let (replica, _) = try common.enrolled()
      let conflict = try find(replica, id)
      let resolution: Replica.Resolution
      switch (keep, values.isEmpty) {
      case ("mine", true): resolution = .keepMine
      case ("theirs", true): resolution = .keepTheirs
      case ("kept", true): resolution = .keepKept
      case ("lost", true): resolution = .keepLost
      case (nil, false):
        let (body, _) = try FieldInput(type: conflict.type).parse(values, onto: conflict.winner)
        resolution = .edit(body)
      default:
        throw Failure(
          message: "say --keep mine, theirs, kept or lost, or give new values as --field value", code: Exit.usage)
      }
      try replica.resolve(conflictID: Array(conflict.id), resolution)
      print("resolved; run `orgsync sync` to tell the server")
    }
  }

  /// "open", or who settled it and how.
  static func status(_ c: Orgsync_V1_Conflict, unitName: ([UInt8]) -> String?) -> String {
    guard c.status != .open else { return "open" }
    guard !c.resolvedByUnitID.isEmpty else { return "resolved" }
    let who = unitName(Array(c.resolvedByUnitID)) ?? RecordPresentation.shortID(Array(c.resolvedByUnitID))
    let how = c.resolvedByMutationID == c.winnerMutationID ? "kept what won" : "changed it again"
    return "resolved by \(who): \(how)"
  }

  static func find(_ replica: Replica, _ text: String) throws -> Orgsync_V1_Conflict {
    let suffix = text.lowercased().filter { $0 != "-" }
    let matches = try replica.conflicts(includeResolved: true).filter {
      RecordID.string(Array($0.id)).filter { $0 != "-" }.hasSuffix(suffix)
    }
    guard matches.count == 1, suffix.count >= 6 else {
      throw Failure(message: "no single conflict ends in \(text); see `orgsync conflicts list`", code: Exit.badValue)
    }
    return matches[0]
  }
}

struct Verify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check this computer's data against the server and repair only what differs.")
  @OptionGroup var common: Common

  func run() async throws {
    let (replica, identity) = try common.enrolled()
    // The file first: no claim about the data is made from a damaged file.
    if let problem = try replica.integrityProblem() {
      throw ReplicaDamaged(path: common.replicaPath, detail: problem)
    }
    let client = try common.client(identity, replica: replica)
    defer { Task { await client.close() } }
    let report = try await SyncEngine(replica: replica, client: client).verify()
    if report.healed {
      print("the server had been restored from an older copy: this computer offered back its accepted edits")
    }
    if report.mismatchedTypes.isEmpty, report.held == 0 {
      print("verified: this computer holds exactly what the server holds for \(identity.unitName)")
    } else {
      let types = report.mismatchedTypes.map(RecordPresentation.word(for:)).joined(separator: ", ")
      var line = "repaired \(types): fetched \(report.fetched), removed \(report.removed)"
      if report.offeredAgain > 0 { line += ", offered back \(report.offeredAgain) of this computer's edits" }
      if report.held > 0 { line += ", kept \(report.held) the server lacks on this computer" }
      print(line)
    }
  }
}

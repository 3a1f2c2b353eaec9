import OrgSyncCore
import OrgSyncProto

/// A device known to the server.
public struct DeviceInfo: Sendable, Hashable {
  public var id: [UInt8]
  public var unitID: [UInt8]
  public var role: Orgsync_V1_DeviceRole
  public var name: String
  public var storedKey: [UInt8]
  public var createdAt: Int64
  public var revokedAt: Int64?
  /// When it last completed a sync (milliseconds since 1970), if ever.
  public var lastSeenAt: Int64? = nil

  public var actor: Actor { Actor(deviceID: id, unitID: unitID, role: role) }
}

/// One line of the audit log: who changed what, never the values.
public struct AuditEntry: Sendable, Hashable {
  public var seq: Int64
  /// Milliseconds since 1970.
  public var at: Int64
  public var deviceID: [UInt8]
  public var recordID: [UInt8]
  public var type: Orgsync_V1_RecordType
  /// create, update, delete, move, review, conflict
  public var action: String
  /// Names of the body fields that changed.
  public var fields: [String]
}

/// How a push is to be applied.
public struct PushOptions: Sendable, Hashable {
  /// Positions the device has seen (its pull cursor, its last push answer); all must be held.
  public var knownPositions: [[UInt8]] = []
  /// Mutations accepted before, offered again after the server lost them: an edit whose base
  /// version is newer than the record applies on top of what is stored.
  public var replay = false

  public init(knownPositions: [[UInt8]] = [], replay: Bool = false) {
    self.knownPositions = knownPositions
    self.replay = replay
  }
}

/// What a push did.
public struct PushOutcome: Sendable, Hashable {
  public var results: [Orgsync_V1_MutationResult] = []
  /// The log's position after the push (a `LogPosition`'s bytes).
  public var position: [UInt8] = []
  public var historyChanged = false

  public init() {}
}

extension ServerStore {
  public func conflicts(actor: Actor, includeResolved: Bool, limit: Int) async throws -> [Orgsync_V1_Conflict] {
    try await conflicts(actor: actor, includeResolved: includeResolved, limit: limit, resolvedSince: nil)
  }

  /// Applies mutations with no known position (administration, tests).
  public func push(_ mutations: [Orgsync_V1_Mutation], actor: Actor) async throws -> [Orgsync_V1_MutationResult] {
    try await push(mutations, actor: actor, options: PushOptions()).results
  }
}

/// Errors of store operations that are not per-mutation rejections.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
  public enum Kind: Sendable, Hashable {
    case unauthenticated, notFound, invalidArgument, permissionDenied, failedPrecondition
  }
  public var kind: Kind
  public var message: String

  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { message }
}

/// Everything the server keeps, behind one protocol so that the SQLite implementation and a
/// PostgreSQL one serve the same callers.
///
/// The pull cursor is opaque to callers. Its one rule (docs/ARCHITECTURE.md, "The cursor"): a
/// cursor handed out must never have passed a change that commits later. SQLite has one writer,
/// so sequence order is commit order and the cursor is the last sequence number served. A
/// store with concurrent writers must cap each page at the lowest sequence number still
/// uncommitted (PostgreSQL: from `pg_snapshot_xmin` of a snapshot taken before the read) —
/// the protocol leaves room for that because the cursor is bytes, not a number.
public protocol ServerStore: Sendable {
  // Hierarchy and administration (local, not over the network).

  /// Adds or updates org units as an administrator: parents before children, validated.
  func importUnits(_ units: [(id: [UInt8], unit: Orgsync_V1_OrgUnit)]) async throws -> [Orgsync_V1_MutationResult]
  /// A one-time enrolment code for a unit and role, valid for `seconds`.
  func makeEnrollmentCode(unitID: [UInt8], role: Orgsync_V1_DeviceRole, validSeconds: Int64) async throws -> String
  /// Trades a code for a new device; the code cannot be used again.
  func enroll(code: String, deviceName: String) async throws -> Orgsync_V1_EnrollResponse
  func device(id: [UInt8]) async throws -> DeviceInfo?
  func devices() async throws -> [DeviceInfo]
  func revokeDevice(id: [UInt8]) async throws
  /// Notes that a device completed a sync at `millis`.
  func noteSeen(deviceID: [UInt8], at millis: Int64) async throws
  func unitName(id: [UInt8]) async throws -> (name: String, code: String)?

  // Sync.

  /// Applies mutations, each on its own (a rejection does not stop the rest); a mutation id
  /// seen before returns its first result and changes nothing. Returns once the batch is on
  /// stable storage. If one of `options.knownPositions` is not held (see `holds(position:)`), applies
  /// nothing and says `historyChanged`.
  func push(_ mutations: [Orgsync_V1_Mutation], actor: Actor, options: PushOptions) async throws -> PushOutcome
  /// Whether the change log still holds a position a device was given (a pull cursor, a push
  /// answer): false after a restore from an older backup or a lost tail. Empty: true.
  func holds(position: [UInt8]) async throws -> Bool
  /// The changes in the actor's scope after `cursor`, at most `pageSize`; a page with
  /// `historyChanged` (and nothing else) if the cursor is not held.
  func pull(actor: Actor, cursor: [UInt8], pageSize: Int) async throws -> Orgsync_V1_PullPage
  /// How many changes a pull from `cursor` has ahead of it (an estimate, for progress).
  func pendingChanges(actor: Actor, cursor: [UInt8]) async throws -> Int
  /// The roll-up of a subtree in the actor's scope for a period (`RollUpBuilder` over the data).
  func rollUp(actor: Actor, request: Orgsync_V1_RollUpRequest) async throws -> Orgsync_V1_RollUp
  /// Counts and hashes of the actor's scope per record type.
  func digest(actor: Actor, types: [Orgsync_V1_RecordType]) async throws -> Orgsync_V1_ScopeDigest
  /// Conflicts in the actor's subtree: open ones, and resolved ones if `includeResolved` or
  /// if they were settled at or after `resolvedSince` (milliseconds since 1970).
  func conflicts(actor: Actor, includeResolved: Bool, limit: Int, resolvedSince: Int64?) async throws
    -> [Orgsync_V1_Conflict]
  func resolveConflict(actor: Actor, id: [UInt8], byMutation: [UInt8]) async throws -> Orgsync_V1_Conflict
  func audit(recordID: [UInt8]) async throws -> [AuditEntry]
  /// A record as stored, if the actor's scope holds it.
  func record(id: [UInt8], actor: Actor) async throws -> Orgsync_V1_Record?
  /// Records by id, those in the actor's scope.
  func records(ids: [[UInt8]], actor: Actor) async throws -> [Orgsync_V1_Record]
  /// Who changed a record in the actor's scope and when, oldest first (none outside the scope).
  func history(recordID: [UInt8], actor: Actor) async throws -> [Orgsync_V1_HistoryEntry]
  /// Ids and versions of the live records of one type in the actor's scope.
  func versions(actor: Actor, type: Orgsync_V1_RecordType) async throws -> [(id: [UInt8], version: Int64)]
}

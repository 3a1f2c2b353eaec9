import Foundation
import OrgSyncProto

extension RollUpBuilder {
  /// Whom and what the counts stand for, so an office can follow them up by name: the cadres
  /// counted without a lecture, those with too few or too many liaison points (with how many),
  /// the problems counted open and the promises counted overdue (record ids; call after `build`).
  public struct Named: Sendable {
    public var cadresWithoutLecture: [[UInt8]] = []
    public var cadresLiaisonOff: [(cadre: [UInt8], points: Int)] = []
    public var openProblems: [[UInt8]] = []
    public var overdueCommitments: [[UInt8]] = []
    /// Probationary members a year or more into probation (due, or overdue, for conversion),
    /// with the day probation began.
    public var conversionsDue: [(member: [UInt8], since: Orgsync_V1_Date)] = []
    /// Grassroots units behind 三会一课 in the period so far: what each held and what it owed.
    public var behindSchedule: [(unit: [UInt8], held: OrganisationalLife, owed: OrganisationalLife)] = []
    /// Inspections whose follow-up date has passed with the follow-up not done.
    public var overdueInspections: [[UInt8]] = []
    /// Promises due in the period that were kept, but after their date.
    public var keptLate: [[UInt8]] = []
    /// Activists of a year or more: ready to be considered as development targets.
    public var activistsReady: [(member: [UInt8], since: Orgsync_V1_Date)] = []
    /// Transfers issued and not yet answered, sent from or to this subtree.
    public var transfersInTransit: [[UInt8]] = []
    /// Party members six months or more behind with their dues, most months first.
    public var duesArrears: [(member: [UInt8], months: Int)] = []
    /// Notices of the period a grassroots unit has not signed for (notice, unit).
    public var noticesUnread: [(notice: [UInt8], unit: [UInt8])] = []

    /// Every record the lists name (to look up their names and units in one go).
    public var recordIDs: [[UInt8]] {
      var ids = cadresWithoutLecture + openProblems + overdueCommitments + overdueInspections + keptLate
      ids += transfersInTransit + duesArrears.map { $0.member } + Array(Set(noticesUnread.map { $0.notice }))
      ids += cadresLiaisonOff.map { $0.cadre }
      ids += conversionsDue.map { $0.member } + activistsReady.map { $0.member }
      return ids
    }
  }

  public func named() -> Named {
    var named = Named()
    for cadre in cadres.keys {
      if !lectured.contains(cadre) { named.cadresWithoutLecture.append(cadre.bytes) }
      let points = liaison[cadre] ?? 0
      if points == 0 || points > 2 { named.cadresLiaisonOff.append((cadre.bytes, points)) }
    }
    named.openProblems = openProblems.map(\.bytes)
    named.overdueCommitments = overdueCommitments.map(\.bytes)
    named.conversionsDue = conversionsDue.map { ($0.0.bytes, $0.1) }
    named.overdueInspections = overdueInspections.map(\.bytes)
    named.keptLate = keptLate.map(\.bytes)
    do {
      for (key, info) in units where info.level == .grassroots && branchOf[key] != nil {
        let owed = lifeStandard.owed(months: monthsElapsed, kind: info.kind)
        guard owed.total > 0 else { continue }
        let counts = organisationalLife[key] ?? [Int](repeating: 0, count: 16)
        let held = OrganisationalLife(
          branchGeneral: counts[Orgsync_V1_MeetingKind.branchGeneral.rawValue],
          branchCommittee: counts[Orgsync_V1_MeetingKind.branchCommittee.rawValue],
          partyGroup: counts[Orgsync_V1_MeetingKind.partyGroup.rawValue], lectures: counts[0])
        if !held.meets(owed) { named.behindSchedule.append((info.id, held, owed)) }
      }
    }
    named.activistsReady = activistsReady.map { ($0.0.bytes, $0.1) }
    namedLifecycle(into: &named)
    return named
  }
}

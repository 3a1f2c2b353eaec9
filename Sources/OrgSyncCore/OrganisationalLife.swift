import Foundation
import OrgSyncProto

/// 三会一课 — the branch's organisational life — held or owed over a stretch of months.
///
/// The standard frequencies (the Party's rules on organisational life in branches): a branch
/// general meeting (支部党员大会) and a party lecture (党课) each quarter, a branch committee
/// meeting (支委会) and a party group meeting (党小组会) each month. A period still running is
/// counted over its whole months so far, so a branch is not behind on the first day of a quarter.
public struct OrganisationalLife: Sendable, Hashable {
  public var branchGeneral = 0
  public var branchCommittee = 0
  public var partyGroup = 0
  public var lectures = 0

  public init(branchGeneral: Int = 0, branchCommittee: Int = 0, partyGroup: Int = 0, lectures: Int = 0) {
    self.branchGeneral = branchGeneral
    self.branchCommittee = branchCommittee
    self.partyGroup = partyGroup
    self.lectures = lectures
  }

  public static func owed(months: Int) -> OrganisationalLife {
    LifeStandard.standard.owed(months: months, kind: .branch)
  }

  public var total: Int { branchGeneral + branchCommittee + partyGroup + lectures }

  public func meets(_ owed: OrganisationalLife) -> Bool {
    branchGeneral >= owed.branchGeneral && branchCommittee >= owed.branchCommittee && partyGroup >= owed.partyGroup
      && lectures >= owed.lectures
  }
}

/// How often each kind of unit owes each part of 三会一课, in months between two (0: not owed),
/// configurable per unit kind. The defaults follow the branch work regulations (2018): a branch
/// — and a village party committee doing a branch's work — holds a general meeting and a
/// lecture each quarter, a committee meeting and party group meetings each month; a general
/// branch owes its committee meeting monthly and a lecture each quarter (its branches hold
/// the general meetings); a party group owes only its monthly meeting.
///
/// An office with another standard (a township that asks its branches for a general meeting
/// every two months) writes it as JSON, e.g.
/// `{"branch": {"branch_general": 2, "branch_committee": 1, "party_group": 1, "lectures": 3}}`;
/// kinds it leaves out keep the defaults.
public struct LifeStandard: Sendable, Hashable, Codable {
  public struct Every: Sendable, Hashable, Codable {
    public var branchGeneral: Int
    public var branchCommittee: Int
    public var partyGroup: Int
    public var lectures: Int

    public init(branchGeneral: Int, branchCommittee: Int, partyGroup: Int, lectures: Int) {
      self.branchGeneral = branchGeneral
      self.branchCommittee = branchCommittee
      self.partyGroup = partyGroup
      self.lectures = lectures
    }

    enum CodingKeys: String, CodingKey {
      case branchGeneral = "branch_general", branchCommittee = "branch_committee", partyGroup = "party_group"
      case lectures
    }
  }

  /// By unit kind's short name: branch, general-branch, committee, working-committee, party-group.
  public var byKind: [String: Every]

  public static let standard = LifeStandard(byKind: [
    "branch": Every(branchGeneral: 3, branchCommittee: 1, partyGroup: 1, lectures: 3),
    "committee": Every(branchGeneral: 3, branchCommittee: 1, partyGroup: 1, lectures: 3),
    "working-committee": Every(branchGeneral: 3, branchCommittee: 1, partyGroup: 1, lectures: 3),
    "general-branch": Every(branchGeneral: 0, branchCommittee: 1, partyGroup: 0, lectures: 3),
    "party-group": Every(branchGeneral: 0, branchCommittee: 0, partyGroup: 1, lectures: 0),
  ])

  public init(byKind: [String: Every]) { self.byKind = byKind }

  /// A standard read from JSON (kind → frequencies), over the defaults. Refuses unknown kinds
  /// and negative or absurd frequencies with a sentence naming them.
  public static func load(json: [UInt8]) throws -> LifeStandard {
    let given: [String: Every]
    do {
      given = try JSONDecoder().decode([String: Every].self, from: Data(json))
    } catch {
      throw LifeStandardError(
        "the 三会一课 standard is not JSON of the form {\"branch\": {\"branch_general\": 3, \"branch_committee\": 1, \"party_group\": 1, \"lectures\": 3}}"
      )
    }
    var standard = LifeStandard.standard
    for (kind, every) in given {
      guard standard.byKind[kind] != nil else {
        throw LifeStandardError(
          "unknown unit kind '\(kind)' in the 三会一课 standard (branch, general-branch, committee, working-committee, party-group)"
        )
      }
      for value in [every.branchGeneral, every.branchCommittee, every.partyGroup, every.lectures]
      where !(0...12).contains(value) {
        throw LifeStandardError("a 三会一课 frequency is 0 (not owed) to 12 months; '\(kind)' has \(value)")
      }
      standard.byKind[kind] = every
    }
    return standard
  }

  /// What a unit of `kind` owes over `months` whole months.
  public func owed(months: Int, kind: Orgsync_V1_UnitKind) -> OrganisationalLife {
    let name: String =
      switch kind {
      case .generalBranch: "general-branch"
      case .committee: "committee"
      case .workingCommittee: "working-committee"
      case .partyGroup: "party-group"
      default: "branch"
      }
    let every = byKind[name] ?? Self.standard.byKind["branch"]!
    func times(_ n: Int) -> Int { n == 0 ? 0 : months / n }
    return OrganisationalLife(
      branchGeneral: times(every.branchGeneral), branchCommittee: times(every.branchCommittee),
      partyGroup: times(every.partyGroup), lectures: times(every.lectures))
  }
}

public struct LifeStandardError: Error, CustomStringConvertible, Sendable {
  public var description: String
  init(_ description: String) { self.description = description }
}

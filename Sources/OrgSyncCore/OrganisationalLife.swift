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
    OrganisationalLife(branchGeneral: months / 3, branchCommittee: months, partyGroup: months, lectures: months / 3)
  }

  public var total: Int { branchGeneral + branchCommittee + partyGroup + lectures }

  public func meets(_ owed: OrganisationalLife) -> Bool {
    branchGeneral >= owed.branchGeneral && branchCommittee >= owed.branchCommittee && partyGroup >= owed.partyGroup
      && lectures >= owed.lectures
  }
}

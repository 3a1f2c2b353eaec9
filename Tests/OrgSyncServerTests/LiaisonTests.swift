import Foundation
import OrgSyncCore
import OrgSyncProto
import OrgSyncStore
import Testing

/// A township cadre's liaison point, recorded by the township's own office and naming the
/// village it sits in: the county and the township count it alike.
@Suite("Liaison points kept by the cadre's committee")
struct LiaisonTests {
  @Test("the township records its cadre's point in one of its villages (not another township's); both roll-ups agree")
  func keptByCommittee() async throws {
    let county = try await County()
    let cadre = RecordID.make()
    #expect(
      try await county.push(
        create(member("镇委员", cadre: true), id: cadre, unit: county.lianqiao), as: county.lianqiaoCommittee
      ).outcome == .applied)
    var problem = Orgsync_V1_Problem()
    problem.category = .livelihood
    problem.title = "机耕道损毁"
    problem.identifiedOn = CalendarDate.make(2026, 5, 3)
    problem.status = .open
    let problemID = RecordID.make()
    #expect(
      try await county.push(
        create(.with { $0.problem = problem }, id: problemID, unit: county.taiping), as: county.taipingBranch
      )
      .outcome == .applied)
    func point(in village: [UInt8]) -> Orgsync_V1_RecordBody {
      var l = Orgsync_V1_LiaisonPoint()
      l.cadreID = Data(cadre)
      l.cadreName = "镇委员"
      l.since = CalendarDate.make(2026, 2, 1)
      l.villageUnitID = Data(village)
      l.problemIds = [Data(problemID)]
      return .with { $0.liaisonPoint = l }
    }
    let elsewhere = try await county.push(
      create(point(in: county.shuangfeng), unit: county.lianqiao), as: county.lianqiaoCommittee)
    #expect(elsewhere.outcome == .rejected && elsewhere.field == "village_unit_id", "\(elsewhere.reason)")
    let kept = try await county.push(
      create(point(in: county.taiping), unit: county.lianqiao), as: county.lianqiaoCommittee)
    #expect(kept.outcome == .applied, "\(kept.reason)")

    var request = Orgsync_V1_RollUpRequest()
    request.year = 2026
    request.period = .q3
    let township = try await county.store.rollUp(actor: county.lianqiaoCommittee, request: request)
    let whole = try await county.store.rollUp(actor: county.countyCommittee, request: request)
    #expect(township.total.cadresLiaisonOff == 0, "one live point")
    #expect(whole.rows.first { $0.name == "中共廉桥镇委员会" }?.cadresLiaisonOff == 0)
  }
}

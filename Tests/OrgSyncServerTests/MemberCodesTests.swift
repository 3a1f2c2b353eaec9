import OrgSyncCore
import OrgSyncProto
import Testing

@Suite("Member code lists and dues bands")
struct MemberCodesTests {
  @Test("monthly dues follow the income bands of the 2008 rules, rounded to the fen")
  func bands() {
    #expect(Dues.monthlyFen(category: .salaried, base: 300_000) == 1_500)  // 3,000 yuan: 0.5 %
    #expect(Dues.monthlyFen(category: .salaried, base: 300_001) == 3_000)  // just over: 1 %
    #expect(Dues.monthlyFen(category: .salaried, base: 800_000) == 12_000)  // 1.5 %
    #expect(Dues.monthlyFen(category: .salaried, base: 1_200_000) == 24_000)  // 2 %
    #expect(Dues.monthlyFen(category: .retired, base: 500_000) == 2_500)
    #expect(Dues.monthlyFen(category: .retired, base: 600_000) == 6_000)
    #expect(Dues.monthlyFen(category: .farmer, base: 0) == 20)
    #expect(Dues.monthlyFen(category: .lowIncome, base: 900_000) == 20)
    #expect(Dues.monthlyFen(category: .exempt, base: 900_000) == 0)
    #expect(Dues.months(from: 202511, to: 202602) == 4)
    #expect(Dues.adding(-1, to: 202601) == 202512)
  }

  @Test("ethnicity names one of the 56 nationalities, with or without 族")
  func ethnicity() {
    #expect(Ethnicity.names.count == 58)
    #expect(Ethnicity.code(of: "汉族") == 1 && Ethnicity.code(of: "汉") == 1)
    #expect(Ethnicity.code(of: "土家族") == 15 && Ethnicity.standardName("土家") == "土家族")
    #expect(Ethnicity.code(of: "基诺族") == 56)
    #expect(Ethnicity.code(of: "Han") == nil)
  }

  @Test("a member's ethnicity outside the list is refused with the field named")
  func refused() async throws {
    let county = try await County()
    var m = member("马丽")
    m.member.ethnicity = "汉人"
    let result = try await county.push(create(m, unit: county.taiping), as: county.taipingBranch)
    #expect(result.outcome == .rejected && result.field == "ethnicity", "\(result.reason)")
    m.member.ethnicity = "回族"
    #expect(try await county.push(create(m, unit: county.taiping), as: county.taipingBranch).outcome == .applied)
  }
}

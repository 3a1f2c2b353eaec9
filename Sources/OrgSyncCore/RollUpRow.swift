import Foundation
import OrgSyncProto

extension Orgsync_V1_UnitRollUp {
  /// Adds another row's counts (medians and status lists are set by the caller).
  mutating func merge(_ other: Orgsync_V1_UnitRollUp) {
    units += other.units
    members += other.members
    leadingCadres += other.leadingCadres
    reportsDue += other.reportsDue
    reportsSubmitted += other.reportsSubmitted
    reportsAcknowledged += other.reportsAcknowledged
    reportsLate += other.reportsLate
    reportsSubmittedLate += other.reportsSubmittedLate
    maxDaysLate = max(maxDaysLate, other.maxDaysLate)
    cadresWithoutLecture += other.cadresWithoutLecture
    cadresLiaisonOff += other.cadresLiaisonOff
    opinions += other.opinions
    problemsOpen += other.problemsOpen
    problemsResolved += other.problemsResolved
    commitmentsDue += other.commitmentsDue
    commitmentsFulfilledOnTime += other.commitmentsFulfilledOnTime
    commitmentsOverdue += other.commitmentsOverdue
    meetings += other.meetings
    serviceCases += other.serviceCases
    lateUnitIds += other.lateUnitIds
    transfersInTransit += other.transfersInTransit
    transfersOut += other.transfersOut
    transfersIn += other.transfersIn
    duesDueFen += other.duesDueFen
    duesPaidFen += other.duesPaidFen
    duesArrears += other.duesArrears
    inspectionsOverdue += other.inspectionsOverdue
    notices += other.notices
    supportFen += other.supportFen
    supportItems += other.supportItems
    commitmentsKeptLate += other.commitmentsKeptLate
    conversionsDue += other.conversionsDue
    activistsReady += other.activistsReady
    pledgesPublic += other.pledgesPublic
    leaderReviews += other.leaderReviews
    membersReviewed += other.membersReviewed
    membersIncompetent += other.membersIncompetent
    pairingsActive += other.pairingsActive
    targetsSet += other.targetsSet
    targetsMet += other.targetsMet
    unitsRated += other.unitsRated
    stars += other.stars
    generalMeetings += other.generalMeetings
    committeeMeetings += other.committeeMeetings
    partyGroupMeetings += other.partyGroupMeetings
    lectures += other.lectures
    noticesUnread += other.noticesUnread
  }
}

import OrgSyncProto
import OrgSyncRPC

/// The methods the server offers, shared by server and client so their names and types agree.
public enum SyncAPI {
  public static let service = "orgsync.v1.Sync"
  /// Applies a batch of mutations; one result per mutation.
  public static let push = MethodDescriptor<Orgsync_V1_PushRequest, Orgsync_V1_PushResponse>(
    service: service, method: "Push")
  /// Streams pages of changes after a cursor until the scope is caught up.
  public static let pull = MethodDescriptor<Orgsync_V1_PullRequest, Orgsync_V1_PullPage>(
    service: service, method: "Pull")
  public static let digest = MethodDescriptor<Orgsync_V1_DigestRequest, Orgsync_V1_ScopeDigest>(
    service: service, method: "Digest")
  public static let conflicts = MethodDescriptor<Orgsync_V1_ConflictsRequest, Orgsync_V1_ConflictsResponse>(
    service: service, method: "Conflicts")
  public static let resolveConflict = MethodDescriptor<
    Orgsync_V1_ResolveConflictRequest, Orgsync_V1_ResolveConflictResponse
  >(service: service, method: "ResolveConflict")
  /// Ids and versions of one type in the scope, streamed (verify and repair).
  public static let versions = MethodDescriptor<Orgsync_V1_VersionsRequest, Orgsync_V1_VersionsPage>(
    service: service, method: "Versions")
  /// Records by id (verify and repair, conflicts).
  public static let fetch = MethodDescriptor<Orgsync_V1_FetchRequest, Orgsync_V1_FetchResponse>(
    service: service, method: "Fetch")
  /// The roll-up of a subtree for a period, over the server's live data.
  public static let rollUp = MethodDescriptor<Orgsync_V1_RollUpRequest, Orgsync_V1_RollUp>(
    service: service, method: "RollUp")
  public static let whoAmI = MethodDescriptor<Orgsync_V1_WhoAmIRequest, Orgsync_V1_WhoAmIResponse>(
    service: service, method: "WhoAmI")
  /// Who changed one record's fields and when.
  public static let history = MethodDescriptor<Orgsync_V1_HistoryRequest, Orgsync_V1_HistoryResponse>(
    service: service, method: "History")
}

public enum EnrollmentAPI {
  public static let service = "orgsync.v1.Enrollment"
  /// The one method an anonymous connection may call.
  public static let enroll = MethodDescriptor<Orgsync_V1_EnrollRequest, Orgsync_V1_EnrollResponse>(
    service: service, method: "Enroll")
}

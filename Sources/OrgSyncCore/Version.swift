/// The release both binaries print for `--version`.
public enum OrgSyncVersion {
  public static let current = "0.2.0"
}

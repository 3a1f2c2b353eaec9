import Logging
import OrgSyncCore
import OrgSyncProto
import OrgSyncRPC
import OrgSyncStore

/// Checks each connection's HELLO against the enrolled devices: unknown, revoked or wrong
/// credentials are refused before any call runs. Anonymous connections are let in for
/// enrolment only (the RPC layer refuses them every other method).
public struct DeviceAuthenticator: ConnectionAuthenticator {
  let store: any ServerStore
  let logger: Logger

  public init(store: any ServerStore, logger: Logger = Logger(label: "orgsync.auth")) {
    self.store = store
    self.logger = logger
  }

  public func authenticate(hello: Orgsync_V1_Hello, serverNonce: [UInt8]) async -> AuthenticationResult {
    let deviceID = Array(hello.deviceID)
    if deviceID.isEmpty { return .accepted(.anonymous, ackProof: []) }
    let found: DeviceInfo?
    do {
      found = try await store.device(id: deviceID)
    } catch {
      // Not the device's fault: say so in the log, and let it try again later.
      logger.error("could not look up a device", metadata: ["error": "\(String(reflecting: error))"])
      return .rejected(reason: "the server could not check this device now; try again later")
    }
    guard let device = found, device.revokedAt == nil,
      HelloProof.verify(
        proof: Array(hello.proof), storedKey: device.storedKey, serverNonce: serverNonce,
        clientNonce: Array(hello.clientNonce), deviceID: deviceID)
    else {
      return .rejected(reason: "unknown device, revoked device or wrong credentials")
    }
    let ack = HelloProof.ackProof(
      storedKey: device.storedKey, clientNonce: Array(hello.clientNonce), serverNonce: serverNonce)
    return .accepted(PeerIdentity(deviceID: deviceID, principal: device.actor), ackProof: ack)
  }
}

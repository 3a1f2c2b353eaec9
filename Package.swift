// swift-tools-version:6.1
import Foundation
import PackageDescription

// Layers (docs/ARCHITECTURE.md): generated messages → wire (frames, no sockets) → rpc → …
// C interop targets prove the wire is plain protobuf that libprotobuf-c reads.
var targets: [Target] = [
  .target(
    name: "OrgSyncProto",
    dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]
  ),
  .target(name: "CCRC32C"),
  .target(
    name: "OrgSyncWire",
    dependencies: [
      "CCRC32C",
      .product(name: "NIOCore", package: "swift-nio"),
    ]
  ),
  .systemLibrary(
    name: "CProtobufC",
    pkgConfig: "libprotobuf-c",
    providers: [.apt(["libprotobuf-c-dev"])]
  ),
  .target(name: "COrgSyncProto", dependencies: ["CProtobufC", "CCRC32C"]),
  .testTarget(
    name: "OrgSyncWireTests",
    dependencies: [
      "OrgSyncWire",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOEmbedded", package: "swift-nio"),
      .product(name: "NIOTestUtils", package: "swift-nio"),
    ],
    resources: [.copy("Regressions")]
  ),
  .testTarget(
    name: "InteropTests",
    dependencies: ["OrgSyncProto", "OrgSyncWire", "COrgSyncProto", "CProtobufC"]
  ),
]

var products: [Product] = []

// The libFuzzer target exists only when Scripts/fuzz.sh asks for it: libFuzzer supplies `main`,
// so the target cannot link in an ordinary build.
if ProcessInfo.processInfo.environment["ORGSYNC_FUZZ"] != nil {
  targets.append(
    .executableTarget(
      name: "FuzzFrameDecoder",
      dependencies: ["OrgSyncWire", "OrgSyncProto", .product(name: "NIOCore", package: "swift-nio")],
      path: "Fuzz/FuzzFrameDecoder"
    )
  )
}

let package = Package(
  name: "OrgSync",
  platforms: [.macOS(.v15)],
  products: products,
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
  ],
  targets: targets,
  swiftLanguageModes: [.v6]
)

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
  .target(
    name: "OrgSyncRPC",
    dependencies: [
      "OrgSyncWire",
      "COrgSyncZlib",
      "OrgSyncProto",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "Metrics", package: "swift-metrics"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      .product(name: "Crypto", package: "swift-crypto"),
    ]
  ),
  .target(
    name: "OrgSyncCore",
    dependencies: [
      "OrgSyncProto",
      .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      .product(name: "Crypto", package: "swift-crypto"),
    ]
  ),
  .target(
    name: "OrgSyncStore",
    dependencies: [
      "OrgSyncCore",
      "OrgSyncProto",
      .product(name: "GRDB", package: "GRDB.swift"),
      .product(name: "GRDBSQLite", package: "GRDB.swift"),
      .product(name: "Crypto", package: "swift-crypto"),
      .product(name: "PostgresNIO", package: "postgres-nio"),
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "Logging", package: "swift-log"),
    ]
  ),
  .target(
    name: "OrgSyncAPI",
    dependencies: ["OrgSyncRPC", "OrgSyncProto"]
  ),
  .target(
    name: "OrgSyncServer",
    dependencies: [
      "OrgSyncAPI",
      "OrgSyncCore",
      "OrgSyncRPC",
      "OrgSyncStore",
      "OrgSyncProto",
      .product(name: "Logging", package: "swift-log"),
      .product(name: "Metrics", package: "swift-metrics"),
      .product(name: "Prometheus", package: "swift-prometheus"),
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOHTTP1", package: "swift-nio"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]
  ),
  .target(
    name: "OrgSyncClient",
    dependencies: [
      "CCRC32C",
      "OrgSyncAPI",
      "OrgSyncCore",
      "OrgSyncRPC",
      "OrgSyncProto",
      .product(name: "GRDB", package: "GRDB.swift"),
      .product(name: "Crypto", package: "swift-crypto"),
      .product(name: "CryptoExtras", package: "swift-crypto"),
    ]
  ),
  .target(
    name: "OrgSyncCLI",
    dependencies: ["OrgSyncCore", "OrgSyncProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
  ),
  .target(
    name: "OrgSyncWeb",
    dependencies: [
      "OrgSyncCLI",
      "OrgSyncClient",
      "OrgSyncAPI",
      "OrgSyncCore",
      "OrgSyncRPC",
      "OrgSyncProto",
      .product(name: "Hummingbird", package: "hummingbird"),
      .product(name: "Mustache", package: "swift-mustache"),
      .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      .product(name: "Crypto", package: "swift-crypto"),
      .product(name: "Logging", package: "swift-log"),
    ]
  ),
  .executableTarget(
    name: "orgsync",
    dependencies: [
      "OrgSyncWeb",
      "OrgSyncCLI",
      "OrgSyncClient",
      "OrgSyncAPI",
      "OrgSyncCore",
      "OrgSyncRPC",
      "OrgSyncProto",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
    ]
  ),
  .executableTarget(
    name: "orgsyncd",
    dependencies: [
      "OrgSyncServer",
      "OrgSyncStore",
      "OrgSyncSample",
      "OrgSyncCLI",
      "OrgSyncCore",
      "OrgSyncRPC",
      "OrgSyncProto",
      .product(name: "ArgumentParser", package: "swift-argument-parser"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "Metrics", package: "swift-metrics"),
      .product(name: "Prometheus", package: "swift-prometheus"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "CSV", package: "CSV.swift"),
      .product(name: "X509", package: "swift-certificates"),
      .product(name: "SwiftASN1", package: "swift-asn1"),
      .product(name: "Crypto", package: "swift-crypto"),
    ]
  ),
  .target(
    name: "OrgSyncTestSupport",
    dependencies: [
      "OrgSyncCore",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
    ]
  ),
  .target(
    name: "OrgSyncSample",
    dependencies: ["OrgSyncCore", "OrgSyncProto"]
  ),
  .systemLibrary(
    name: "CProtobufC",
    pkgConfig: "libprotobuf-c",
    providers: [.apt(["libprotobuf-c-dev"])]
  ),
  .target(name: "COrgSyncProto", dependencies: ["CProtobufC", "CCRC32C"]),
  // The system zlib, for compressed messages on slow links (PROTOCOL.md §3.1).
  .systemLibrary(
    name: "COrgSyncZlib", path: "Sources/COrgSyncZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
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
    name: "OrgSyncRPCTests",
    dependencies: [
      "OrgSyncRPC",
      "OrgSyncWire",
      "OrgSyncProto",
      .product(name: "NIOCore", package: "swift-nio"),
      .product(name: "NIOPosix", package: "swift-nio"),
      .product(name: "NIOEmbedded", package: "swift-nio"),
      .product(name: "NIOSSL", package: "swift-nio-ssl"),
      .product(name: "X509", package: "swift-certificates"),
      .product(name: "Crypto", package: "swift-crypto"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]
  ),
  .testTarget(
    name: "OrgSyncServerTests",
    dependencies: [
      "OrgSyncServer",
      "OrgSyncSample",
      "OrgSyncStore",
      "OrgSyncCore",
      "OrgSyncAPI",
      "OrgSyncRPC",
      "OrgSyncProto",
      .product(name: "Logging", package: "swift-log"),
    ]
  ),
  .testTarget(
    name: "OrgSyncClientTests",
    dependencies: [
      "OrgSyncClient",
      "OrgSyncServer",
      "OrgSyncStore",
      "OrgSyncCore",
      "OrgSyncAPI",
      "OrgSyncRPC",
      "OrgSyncProto",
      "OrgSyncTestSupport",
      .product(name: "GRDB", package: "GRDB.swift"),
      .product(name: "Logging", package: "swift-log"),
    ]
  ),
  .testTarget(
    name: "OrgSyncCLITests",
    dependencies: [
      .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      .product(name: "X509", package: "swift-certificates"),
      .product(name: "SwiftASN1", package: "swift-asn1"),
      .product(name: "Crypto", package: "swift-crypto"),
    ]
  ),
  .testTarget(
    name: "InteropTests",
    dependencies: ["OrgSyncProto", "OrgSyncWire", "COrgSyncProto", "CProtobufC"]
  ),
]

var products: [Product] = [
  .executable(name: "orgsync", targets: ["orgsync"]),
  .executable(name: "orgsyncd", targets: ["orgsyncd"]),
  .library(name: "OrgSyncProto", targets: ["OrgSyncProto"]),
  .library(name: "OrgSyncWire", targets: ["OrgSyncWire"]),
  .library(name: "OrgSyncRPC", targets: ["OrgSyncRPC"]),
  .library(name: "OrgSyncCore", targets: ["OrgSyncCore"]),
  .library(name: "OrgSyncStore", targets: ["OrgSyncStore"]),
  .library(name: "OrgSyncServer", targets: ["OrgSyncServer"]),
  .library(name: "OrgSyncSample", targets: ["OrgSyncSample"]),
  .library(name: "OrgSyncClient", targets: ["OrgSyncClient"]),
  .library(name: "OrgSyncAPI", targets: ["OrgSyncAPI"]),
]

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
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/yaslab/CSV.swift.git", from: "2.5.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    .package(url: "https://github.com/weichsel/ZIPFoundation.git", exact: "0.9.20"),
  ],
  targets: targets,
  swiftLanguageModes: [.v6]
)

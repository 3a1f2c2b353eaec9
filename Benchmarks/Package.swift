// swift-tools-version:6.1
// Benchmarks live in their own package so that grpc-swift-2 (a baseline) stays out of the
// main package's test build. Run them with Scripts/bench-rpc.sh (release mode).
import PackageDescription

let package = Package(
  name: "OrgSyncBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    // The main package through a link, so its identity is "OrgSync" whatever the checkout is called.
    .package(path: "OrgSync"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
    .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
  ],
  targets: [
    .executableTarget(
      name: "rpc-bench",
      dependencies: [
        .product(name: "OrgSyncRPC", package: "OrgSync"),
        .product(name: "OrgSyncProto", package: "OrgSync"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ]
    ),
    .executableTarget(
      name: "store-bench",
      dependencies: [
        .product(name: "OrgSyncStore", package: "OrgSync"),
        .product(name: "OrgSyncCore", package: "OrgSync"),
        .product(name: "OrgSyncSample", package: "OrgSync"),
        .product(name: "OrgSyncProto", package: "OrgSync"),
      ]
    ),
    .executableTarget(
      name: "sync-bench",
      dependencies: [
        .product(name: "OrgSyncClient", package: "OrgSync"),
        .product(name: "OrgSyncAPI", package: "OrgSync"),
        .product(name: "OrgSyncServer", package: "OrgSync"),
        .product(name: "OrgSyncStore", package: "OrgSync"),
        .product(name: "OrgSyncRPC", package: "OrgSync"),
        .product(name: "OrgSyncCore", package: "OrgSync"),
        .product(name: "OrgSyncSample", package: "OrgSync"),
        .product(name: "OrgSyncProto", package: "OrgSync"),
      ]
    ),
    .executableTarget(
      name: "rollup-bench",
      dependencies: [
        .product(name: "OrgSyncStore", package: "OrgSync"),
        .product(name: "OrgSyncCore", package: "OrgSync"),
        .product(name: "OrgSyncSample", package: "OrgSync"),
        .product(name: "OrgSyncProto", package: "OrgSync"),
      ]
    ),
  ],
  swiftLanguageModes: [.v6]
)

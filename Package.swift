// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "platform",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "build-worker", targets: ["build-worker"]),
        .executable(name: "mailer", targets: ["mailer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .target(name: "CMHDShim", dependencies: ["CMicroHTTPD"]),
        .target(
            name: "GatewayCore",
            dependencies: ["CLibPQ", "CMicroHTTPD", "CMHDShim", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            // Swift 6.3.1's optimiser loops for an hour in loop-invariant code motion on this module;
            // without that one pass the release build takes minutes. Debug builds are unaffected.
            swiftSettings: [.unsafeFlags(["-Xllvm", "-sil-disable-pass=loop-invariant-code-motion"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "gateway",
            dependencies: [
                "GatewayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "build-worker",
            dependencies: ["WorkerSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "mailer",
            dependencies: ["WorkerSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What the platform's background workers share: the gateway client and the NOTIFY listener.
        .target(name: "WorkerSupport", dependencies: ["CLibPQ"]),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["GatewayCore"]),
    ]
)

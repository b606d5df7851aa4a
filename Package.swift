// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "platform",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        // The platform's libpq client, for the workers' package (workers/Package.swift) as for the gateway.
        .library(name: "PGClient", targets: ["PGClient"]),
        // Runs the real gateway binary against the test database: the gateway's and the workers' tests.
        .library(name: "GatewayTesting", targets: ["GatewayTesting"]),
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
        // epoll and eventfd, which Swift's Glibc module leaves out (the event loops need them).
        .target(name: "CEventLoop"),
        // One owner of libpq: PGConnection and PGError (GatewayCore's Database/ adds the event loops' calls).
        .target(name: "PGClient", dependencies: ["CLibPQ"]),
        .target(
            name: "GatewayCore",
            dependencies: ["PGClient", "CLibPQ", "CMicroHTTPD", "CMHDShim", "CEventLoop", .product(name: "Crypto", package: "swift-crypto"),
                           // RSA (RS256/384/512 tokens) lives in swift-crypto's _CryptoExtras.
                           .product(name: "_CryptoExtras", package: "swift-crypto"),
                           .product(name: "Prometheus", package: "swift-prometheus")]
            // No unsafe flags: the optimiser hang that once needed one is avoided in the code (PGListener.session).
        ),
        .executableTarget(
            name: "gateway",
            dependencies: [
                "GatewayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "GatewayTesting", dependencies: ["PGClient"]),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["GatewayCore", "GatewayTesting"]),
    ]
)

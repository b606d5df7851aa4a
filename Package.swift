// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "platform",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "build-worker", targets: ["build-worker"]),
        .executable(name: "mailer", targets: ["mailer"]),
        .executable(name: "host-agent", targets: ["host-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        // The Docker Engine API client (DockerEngine) speaks HTTP over the engine's unix socket with it;
        // only the host agent and the build worker link it, never the gateway.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .target(name: "CMHDShim", dependencies: ["CMicroHTTPD"]),
        // epoll and eventfd, which Swift's Glibc module leaves out (the event loops need them).
        .target(name: "CEventLoop"),
        .target(
            name: "GatewayCore",
            dependencies: ["CLibPQ", "CMicroHTTPD", "CMHDShim", "CEventLoop", .product(name: "Crypto", package: "swift-crypto"),
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
        .executableTarget(
            name: "build-worker",
            dependencies: ["WorkerSupport", "DockerEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "mailer",
            dependencies: ["WorkerSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // What the platform's background workers share: their common options, the gateway client, the NOTIFY listener.
        .target(name: "WorkerSupport", dependencies: ["CLibPQ", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // A Docker Engine API client over a unix socket (Docker, or podman's compatible service).
        .target(name: "DockerEngine", dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client")]),
        // Runs a host's workspace containers: claims host tasks through the gateway, drives the engine.
        .executableTarget(
            name: "host-agent",
            dependencies: ["WorkerSupport", "DockerEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"]),
        .testTarget(name: "IntegrationTests", dependencies: ["GatewayCore", "DockerEngine"]),
    ]
)

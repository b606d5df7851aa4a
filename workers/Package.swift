// swift-tools-version:6.0
// The platform's background workers: the build worker, the mailer and the workspace host agent, with
// the Docker Engine API client two of them drive. They talk to the platform through the gateway's
// /rpc and, for NOTIFY wake-ups, through the root package's libpq client (PGClient); none of them
// links the gateway. Build: swift build -c release --package-path workers (make up does).
// Tests: swift test --package-path workers (make test does, after the gateway's, whose binary they run).
import PackageDescription

let package = Package(
    name: "workers",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "build-worker", targets: ["build-worker"]),
        .executable(name: "mailer", targets: ["mailer"]),
        .executable(name: "host-agent", targets: ["host-agent"]),
    ],
    dependencies: [
        .package(name: "platform", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The Docker Engine API client speaks HTTP over the engine's unix socket with it.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // What the workers share: their common options, the gateway client, the NOTIFY listener.
        .target(name: "WorkerSupport", dependencies: [.product(name: "PGClient", package: "platform"),
                                                      .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // A Docker Engine API client over a unix socket (Docker, or podman's compatible service).
        .target(name: "DockerEngine", dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .executableTarget(
            name: "build-worker",
            dependencies: ["WorkerSupport", "DockerEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "mailer",
            dependencies: ["WorkerSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Runs a host's workspace containers: claims host tasks through the gateway, drives the engine.
        .executableTarget(
            name: "host-agent",
            dependencies: ["WorkerSupport", "DockerEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The workers' executables against a real gateway (the root package's binary) and PostgreSQL.
        .testTarget(name: "WorkersTests", dependencies: ["DockerEngine", .product(name: "GatewayTesting", package: "platform")]),
    ]
)

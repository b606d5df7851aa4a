// swift-tools-version:6.0
// The load generator: its own package, so that its dependencies stay out of the gateway's graph.
// Build: swift build -c release --package-path benchmarks/loader
import PackageDescription

let package = Package(
    name: "loader",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "loader", targets: ["loader"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        .target(name: "CLoaderShim"),
        .executableTarget(
            name: "loader",
            dependencies: [
                "CLoaderShim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
    ]
)

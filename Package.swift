// swift-tools-version:6.0
// FWX: exchange of records on illegal fireworks between European police nodes.
// Layers, lowest first: C libraries (CLibXML2), the record model and business rules (FWXModel, pure Swift, no I/O),
// XML parsing and validation over libxml2 (FWXXML), transforms and synthetic data (FWXConvert), the `fwx` CLI.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

/// The parser's hot loop runs in libxml2 callbacks on class state; dynamic exclusivity checks cost ~10% there
/// (measured with perf, BENCHMARKS.md). Debug builds and tests keep the checks.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "fwx",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "FWX", targets: ["FWXModel", "FWXXML", "FWXSigning", "FWXConvert"]),
        .executable(name: "fwx", targets: ["fwx"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .systemLibrary(
            name: "CXMLSec",
            pkgConfig: "xmlsec1-openssl",
            providers: [.apt(["libxmlsec1-dev", "libssl-dev"])]
        ),
        .target(
            name: "FWXModel",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FWXXML",
            dependencies: ["CLibXML2", "FWXModel"],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "FWXSigning",
            dependencies: ["CXMLSec", "FWXModel", "FWXXML"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXConvert",
            dependencies: ["FWXModel", "FWXXML", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fwx",
            dependencies: [
                "FWXModel", "FWXXML", "FWXSigning", "FWXConvert",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FWXTests",
            // fwx is a dependency so that `swift build --build-tests` builds the binary the CLI tests run.
            dependencies: ["FWXModel", "FWXXML", "FWXSigning", "FWXConvert", "fwx"],
            swiftSettings: swiftSettings
        ),
    ]
)

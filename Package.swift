// swift-tools-version:6.1
// FWX: exchange of records on illegal fireworks between European police nodes.
// Layers, lowest first: C libraries (CLibXML2), the record model and business rules (FWXModel, pure Swift, no I/O),
// XML parsing and validation over libxml2 (FWXXML), signatures over libxmlsec1 (FWXSigning), transforms and synthetic
// data (FWXConvert); above them the node's store (FWXStore, SQLite through GRDB), the HTTPS client over libcurl
// (FWXClient) and the exchange node (FWXNode: Hummingbird 2 with NIOSSL, services under swift-service-lifecycle);
// the `fwx` CLI on top. FWXPostgres (postgres-nio) is the PostgreSQL connection layer: URL, pool, migrations, errors,
// LISTEN/NOTIFY.
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
        .library(name: "FWXNode", targets: ["FWXStore", "FWXClient", "FWXNode"]),
        .library(name: "FWXTrace", targets: ["FWXTrace"]),
        .executable(name: "fwx", targets: ["fwx"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // The node. Hummingbird's swift-configuration trait is off: FWX reads its own YAML configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1",
                 traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // HTTP request and response parts in the node's connection handlers (Hummingbird uses the same).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The PostgreSQL store's connection layer (FWXPostgres); not built in the fuzz mode below.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
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
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
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
            dependencies: ["FWXModel", "FWXXML", "FWXSigning", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXTrace",
            dependencies: ["FWXModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXStore",
            dependencies: ["FWXModel", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXPostgres",
            dependencies: ["FWXModel", "FWXStore",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           // Its ConnectionPoolError (the pool's circuit breaker) is mapped to `unavailable`.
                           .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXClient",
            dependencies: ["CCurl", "FWXModel"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FWXNode",
            dependencies: [
                "FWXModel", "FWXXML", "FWXSigning", "FWXConvert", "FWXStore", "FWXPostgres", "FWXClient", "FWXTrace",
                "CXMLSec",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "fwx",
            dependencies: [
                "FWXModel", "FWXXML", "FWXSigning", "FWXConvert", "FWXStore", "FWXClient", "FWXNode", "FWXTrace",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FWXTests",
            // fwx is a dependency so that `swift build --build-tests` builds the binary the CLI tests run.
            dependencies: ["FWXModel", "FWXXML", "FWXSigning", "FWXConvert", "FWXStore", "FWXClient", "FWXNode", "FWXTrace",
                           "FWXPostgres", "fwx",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
    ]
)

// Fuzz targets (docs/fuzzing.md), only when FWX_FUZZ=1: `scripts/fuzz` builds them with libFuzzer and AddressSanitizer
// in their own scratch path (.build-fuzz). The normal build never sees them. In that mode the package is cut down to
// what the fuzzers link: FWXNode is reduced to its configuration reader (no Hummingbird/NIO to instrument), and the
// CLI and the tests are left out.
if Context.environment["FWX_FUZZ"] == "1" {
    let fuzzed = ["FWXModel", "FWXXML", "FWXSigning", "FWXConvert", "CLibXML2", "CXMLSec"]
    package.targets.removeAll { !fuzzed.contains($0.name) }
    package.products = []
    // The configuration names its store (StoreConfiguration); the stores themselves are left out.
    package.targets.append(.target(name: "FWXStore", path: "Sources/FWXStore", sources: ["StoreConfiguration.swift"],
                                   swiftSettings: swiftSettings))
    package.targets.append(.target(
        name: "FWXNode",
        dependencies: ["FWXModel", "FWXStore", .product(name: "Yams", package: "Yams"),
                       .product(name: "Logging", package: "swift-log")],
        path: "Sources/FWXNode",
        sources: ["NodeConfiguration.swift", "NodeConfiguration+YAML.swift"],
        swiftSettings: swiftSettings
    ))
    package.targets.append(.target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["FWXModel", "CLibFuzzer"], path: "Fuzz/FuzzSupport",
                                   swiftSettings: swiftSettings))
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("fuzz-validator", ["FWXXML"]),
        ("fuzz-signature", ["FWXSigning", "CLibXML2"]),
        ("fuzz-csv", ["FWXConvert", "FWXXML"]),
        ("fuzz-profile", ["FWXConvert", "FWXXML"]),
        ("fuzz-json", ["FWXConvert", "FWXXML"]),
        ("fuzz-nodeconfig", ["FWXNode"]),
        ("fuzz-c14n", ["FWXSigning", "FWXXML", "CLibXML2"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(name: target.name, dependencies: target.dependencies + ["FuzzSupport", "FWXModel"],
                                                 path: "Fuzz/\(target.name)",
                                                 // @main in a file not named main.swift; it calls libFuzzer's driver.
                                                 swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]))
        package.products.append(.executable(name: target.name, targets: [target.name]))
    }
}

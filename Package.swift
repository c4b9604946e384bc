// swift-tools-version: 6.0
import PackageDescription

/// One module per layer: the core knows nothing of I/O; each backend implements the core's protocols.
let package = Package(
    name: "VectorStream",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vectorstream", targets: ["VectorStreamCLI"]),
        .library(name: "VectorStreamCore", targets: ["VectorStreamCore"]),
        .library(name: "VectorStreamEmbedder", targets: ["VectorStreamEmbedder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: Core: domain, validation, micro-batch engine, protocols. No I/O dependencies.
        .target(
            name: "VectorStreamCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(name: "VectorStreamGenerator", dependencies: ["VectorStreamCore"]),

        // MARK: Embedder: all-MiniLM-L6-v2 in Swift, products on our AVX-512 kernels or CBLAS.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // The embedder's own matrix kernels over weights packed at load: fp32 on AVX-512F, and bf16 on AVX-512 BF16
        // for the reduced-precision path (each chosen at run time; OpenBLAS everywhere else).
        .target(name: "CMatrixKernels"),
        .target(
            name: "VectorStreamEmbedder", dependencies: ["VectorStreamCore", "COpenBLAS", "CMatrixKernels"],
            // Release: no overflow checks in the hot loops, and SIMD16<Float> on AVX2/FMA registers
            // ("haswell": AVX2, FMA, BMI2; Intel 2013+, AMD Zen 1+) instead of SSE2 with fma() library calls.
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release))]
        ),

        // MARK: Backends, one module each.
        .target(
            name: "VectorStreamEmbedded",
            dependencies: ["VectorStreamCore", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift")],
            // The index's scan is SIMD16 arithmetic: let it use AVX2/FMA registers (as the embedder does).
            swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))]
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Its RESP unit tests check the internal codec; tests run in release (see scripts/test.sh).
            swiftSettings: [.unsafeFlags(["-enable-testing"], .when(configuration: .release))]
        ),
        .target(
            name: "VectorStreamRedis",
            dependencies: ["VectorStreamCore", "RedisClient", .product(name: "Logging", package: "swift-log")]
        ),
        .systemLibrary(name: "CRdKafka", path: "Sources/CRdKafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),
        // librdkafka >= 2.10 is loaded at run time from .vendor/lib (scripts/setup.sh), found through the rpath
        // (binaries and the test bundle live in .build/<triple>/<configuration>/, three levels below the root).
        .target(
            name: "VectorStreamKafka",
            dependencies: ["VectorStreamCore", "CRdKafka", .product(name: "Logging", package: "swift-log")],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../../../.vendor/lib"])]
        ),
        .target(
            name: "VectorStreamClickHouse",
            dependencies: ["VectorStreamCore", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log")],
            // Its funnel-segment tests check internal planning and hashing; tests run in release (scripts/test.sh).
            swiftSettings: [.unsafeFlags(["-enable-testing"], .when(configuration: .release))]
        ),
        .target(
            name: "VectorStreamVectorDB",
            dependencies: [
                "VectorStreamCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Its request-body tests check internal builders; tests run in release (see scripts/test.sh).
            swiftSettings: [.unsafeFlags(["-enable-testing"], .when(configuration: .release))]
        ),

        // The metrics history in PostgreSQL (#18): it implements the server's MetricsHistory, so the server itself
        // stays free of postgres-nio.
        .target(
            name: "VectorStreamPostgres",
            dependencies: [
                "VectorStreamCore", "VectorStreamServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Its tests check the sampler's and the rollup's internals; tests run in release (scripts/test.sh).
            swiftSettings: [.unsafeFlags(["-enable-testing"], .when(configuration: .release))]
        ),

        // MARK: Object storage: our own S3 client (SigV4 on swift-crypto, AsyncHTTPClient) and the ObjectStore over it.
        .target(
            name: "S3Client",
            dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "VectorStreamS3", dependencies: ["VectorStreamCore", "S3Client", .product(name: "Logging", package: "swift-log")]),

        // MARK: HTTP API and CLI.
        .target(
            name: "VectorStreamServer",
            dependencies: [
                "VectorStreamCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "VectorStreamCLI",
            dependencies: [
                "VectorStreamCore", "VectorStreamGenerator", "VectorStreamEmbedder", "VectorStreamEmbedded",
                "VectorStreamRedis", "VectorStreamKafka", "VectorStreamClickHouse", "VectorStreamVectorDB",
                "VectorStreamServer", "VectorStreamPostgres",
                "VectorStreamS3",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // MARK: Tests. Unit tests need no server; IntegrationTests start real servers via scripts/.
        .testTarget(name: "VectorStreamCoreTests", dependencies: ["VectorStreamCore", "VectorStreamGenerator"]),
        .testTarget(name: "VectorStreamEmbedderTests", dependencies: ["VectorStreamEmbedder", "CMatrixKernels"]),
        .testTarget(name: "RedisClientTests", dependencies: ["RedisClient"]),
        .testTarget(name: "S3ClientTests", dependencies: ["S3Client", "VectorStreamS3", "VectorStreamCore"]),
        .testTarget(name: "VectorStreamEmbeddedTests",
                    dependencies: ["VectorStreamEmbedded", "VectorStreamGenerator"]),
        .testTarget(name: "VectorStreamServerTests",
                    dependencies: ["VectorStreamServer", "VectorStreamEmbedded", "VectorStreamGenerator", "VectorStreamEmbedder",
                                   .product(name: "NIOHTTP1", package: "swift-nio"),
                                   .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        // Helpers the server test targets share (running the service scripts); a library, as test targets cannot
        // depend on each other.
        .target(name: "VectorStreamTestSupport", path: "Tests/VectorStreamTestSupport"),
        .testTarget(name: "VectorStreamPostgresTests",
                    dependencies: ["VectorStreamPostgres", "VectorStreamServer", "VectorStreamCore", "VectorStreamTestSupport",
                                   .product(name: "PostgresNIO", package: "postgres-nio"),
                                   .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "VectorStreamCore", "VectorStreamGenerator", "RedisClient", "VectorStreamRedis",
                "VectorStreamKafka", "VectorStreamClickHouse", "VectorStreamVectorDB", "VectorStreamEmbedded",
                "VectorStreamEmbedder", "S3Client", "VectorStreamS3", "VectorStreamTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)

import Foundation
import VectorStreamTestSupport
import S3Client
import VectorStreamS3

/// SeaweedFS started by scripts/services/seaweedfs.sh (or `VECTORSTREAM_TEST_S3_ENDPOINT`), with the test identity
/// the script configures. Each test works in a bucket of its own, so suites running in parallel never meet.
enum S3Test {
    static let accessKey = ProcessInfo.processInfo.environment["VECTORSTREAM_TEST_S3_ACCESS_KEY"] ?? "vectorstream-test"
    static let secretKey = ProcessInfo.processInfo.environment["VECTORSTREAM_TEST_S3_SECRET_KEY"] ?? "vectorstream-test-secret"

    static func endpoint() throws -> String {
        try TestServices.url("seaweedfs", environmentVariable: "VECTORSTREAM_TEST_S3_ENDPOINT")
    }

    static func bucketName(_ purpose: String) -> String {
        "vs-\(purpose)-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func configuration(bucket: String, secret: String = secretKey, partSize: Int = S3ClientConfiguration.minimumPartSize)
        throws -> S3ClientConfiguration {
        S3ClientConfiguration(endpoint: try endpoint(), bucket: bucket,
                              credentials: AWSCredentials(accessKeyID: accessKey, secretAccessKey: secret),
                              partSize: partSize, requestTimeout: .seconds(120))
    }

    /// A client on a new bucket (created).
    static func client(_ purpose: String, partSize: Int = S3ClientConfiguration.minimumPartSize) async throws -> S3Client {
        let client = try S3Client(configuration: configuration(bucket: bucketName(purpose), partSize: partSize))
        try await client.createBucket()
        return client
    }

    static func temporaryPath(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "vectorstream-s3-tests"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/\(UUID().uuidString)-\(name)"
    }

    /// A file of `size` pseudo-random bytes (seeded), its path and its bytes' SHA-256.
    static func randomFile(size: Int, seed: UInt64 = 42) throws -> (path: String, sha256: String) {
        let path = temporaryPath("random.bin")
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var state = seed | 1
        var left = size
        while left > 0 {
            let n = min(left, 1 << 20)
            var bytes = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                bytes[i] = UInt8(truncatingIfNeeded: state)
            }
            try handle.write(contentsOf: bytes)
            left -= n
        }
        try handle.close()
        return (path, try S3Client.sha256Hex(ofFile: path))
    }

    /// The `vectorstream` binary next to the test bundle or in .build (or `VECTORSTREAM_BIN`).
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["VECTORSTREAM_BIN"] { return path }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [beside, beside.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("vectorstream").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        for config in ["release", "debug"] {
            let candidate = TestServices.repoRoot.appendingPathComponent(".build/\(config)/vectorstream").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static let hasBoto3: Bool = {
        (try? python("import boto3", arguments: []))?.status == 0
    }()

    /// Runs a Python snippet (`sys.argv[1:]` = arguments) and returns its exit status and output.
    static func python(_ code: String, arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let outputPath = temporaryPath("python.out")
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        // ChildProcess (posix_spawn + waitpid), not Foundation's Process: its waitUntilExit once never returned.
        let status = try ChildProcess.run("/usr/bin/env", ["python3", "-c", code] + arguments,
                                          environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                          outputPath: outputPath)
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// Empties and deletes a test bucket (best effort).
    static func cleanUp(_ client: S3Client) async {
        if let uploads = try? await client.listAllMultipartUploads() {
            for upload in uploads { _ = try? await client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID) }
        }
        if let objects = try? await client.listAllObjects() {
            for object in objects { try? await client.deleteObject(key: object.key) }
        }
        // The bucket too: SeaweedFS gives every bucket volumes of its own, and a server kept between runs refused
        // writes ("No writable volumes and no free volumes left") after some 60 test buckets.
        try? await client.deleteBucket()
        try? await client.shutdown()
    }
}

import Foundation
import S3Client
import Testing
import VectorStreamS3

/// Cross-checks with clients we did not write, and what a killed upload leaves behind.
@Suite("S3 interop and interrupted uploads", .serialized)
struct S3InteropTests {
    static let boto3Script = """
        import sys, boto3, hashlib
        from botocore.config import Config
        endpoint, key_id, secret, bucket, op, key, path = sys.argv[1:8]
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret,
                          region_name="us-east-1", config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        if op == "get":
            s3.download_file(bucket, key, path)
        else:
            s3.upload_file(path, bucket, key)  # multipart above 8 MiB, as boto3 decides
        print(hashlib.sha256(open(path, "rb").read()).hexdigest())
        """

    @Test(.enabled(if: S3Test.hasBoto3, "boto3 is not installed (pip install boto3): the cross-check with AWS's SDK is skipped"))
    func boto3ReadsWhatWeWroteAndWeReadWhatBoto3Wrote() async throws {
        let client = try await S3Test.client("boto3")
        let bucket = client.configuration.bucket
        let endpoint = try S3Test.endpoint()
        let (ours, ourHash) = try S3Test.randomFile(size: 11 * 1024 * 1024 + 5, seed: 3)  // multipart (3 parts of 5 MiB)
        defer { try? FileManager.default.removeItem(atPath: ours) }
        try await client.uploadFile(ours, key: "ours/ü space+plus.bin")
        let fetched = S3Test.temporaryPath("boto3-get.bin")
        defer { try? FileManager.default.removeItem(atPath: fetched) }
        let get = try S3Test.python(Self.boto3Script, arguments: [endpoint, S3Test.accessKey, S3Test.secretKey, bucket, "get",
                                                                  "ours/ü space+plus.bin", fetched])
        #expect(get.status == 0, "\(get.output)")
        #expect(get.output.trimmingCharacters(in: .whitespacesAndNewlines) == ourHash)

        let (theirs, theirHash) = try S3Test.randomFile(size: 9 * 1024 * 1024 + 17, seed: 9)  // boto3: multipart above 8 MiB
        defer { try? FileManager.default.removeItem(atPath: theirs) }
        let put = try S3Test.python(Self.boto3Script, arguments: [endpoint, S3Test.accessKey, S3Test.secretKey, bucket, "put",
                                                                  "theirs/日本 file.bin", theirs])
        #expect(put.status == 0, "\(put.output)")
        let target = S3Test.temporaryPath("ours-get.bin")
        defer { try? FileManager.default.removeItem(atPath: target) }
        try await client.getObject(key: "theirs/日本 file.bin", to: target)
        #expect(try S3Client.sha256Hex(ofFile: target) == theirHash)
        await S3Test.cleanUp(client)
    }

    /// A `vectorstream bench s3` killed with SIGKILL in the middle of its multipart upload leaves the upload open on
    /// the server; the next start (`removeIncompleteUploads`, which the file manager calls at start) aborts it, and
    /// ListMultipartUploads is empty afterwards.
    @Test func uploadKilledWithSIGKILLLeavesNoOrphanedMultipartUploadAfterTheNextStart() async throws {
        let client = try await S3Test.client("killed")
        let store = S3ObjectStore(client: client)
        if let binary = S3Test.binary {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["bench", "s3", "--size-mib", "160", "--part-size-mib", "5", "--concurrency", "1", "--json"]
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VECTORSTREAM_") }
            environment["VECTORSTREAM_S3_ENDPOINT"] = try S3Test.endpoint()
            environment["VECTORSTREAM_S3_BUCKET"] = client.configuration.bucket
            environment["VECTORSTREAM_S3_ACCESS_KEY_ID"] = S3Test.accessKey
            environment["VECTORSTREAM_S3_SECRET_ACCESS_KEY"] = S3Test.secretKey
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Kill it as soon as its multipart upload exists (parts are still going up).
            let deadline = ContinuousClock.now + .seconds(120)
            var seen = false
            while ContinuousClock.now < deadline && process.isRunning {
                if try await !client.listAllMultipartUploads().isEmpty { seen = true; break }
                try await Task.sleep(for: .milliseconds(20))
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(seen, "the child finished or failed before its multipart upload could be seen")
            #expect(process.terminationReason == .uncaughtSignal)
        } else {
            // Without the binary: an upload started and abandoned, as a killed process leaves it.
            _ = try await client.createMultipartUpload(key: "bench/abandoned.bin")
        }
        let left = try await client.listAllMultipartUploads()
        #expect(left.count == 1, "\(left)")
        // A running process's upload is younger than the cut-off: kept.
        #expect(try await store.removeIncompleteUploads(olderThan: .seconds(3600)) == 0)
        #expect(try await client.listAllMultipartUploads().count == 1)
        #expect(try await store.removeIncompleteUploads(olderThan: .zero) == 1)
        #expect(try await client.listAllMultipartUploads().isEmpty)
        await S3Test.cleanUp(client)
    }

    /// CI's run of benchmarks/s3/large-file.sh, at 64 MiB: byte-identical both ways, peak RSS bounded. The 1 GiB run
    /// is on demand (BENCHMARKS.md).
    @Test func benchS3At64MiBIsIdenticalWithBoundedMemory() async throws {
        let binary = try #require(S3Test.binary, "build the vectorstream binary first (swift build -c release)")
        let bucket = S3Test.bucketName("bench")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["bench", "s3", "--size-mib", "64", "--json"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VECTORSTREAM_") }
        environment["VECTORSTREAM_S3_ENDPOINT"] = try S3Test.endpoint()
        environment["VECTORSTREAM_S3_BUCKET"] = bucket
        environment["VECTORSTREAM_S3_ACCESS_KEY_ID"] = S3Test.accessKey
        environment["VECTORSTREAM_S3_SECRET_ACCESS_KEY"] = S3Test.secretKey
        process.environment = environment
        let output = S3Test.temporaryPath("bench.json")
        FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.standardError
        try process.run()
        process.waitUntilExit()
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(process.terminationStatus == 0, "\(text)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        #expect(result["identical"] as? Bool == true)
        #expect(result["parts"] as? Int == 8)
        let growth = try #require(result["peak_above_idle_mb"] as? Double)
        #expect(growth < 100, "peak RSS \(growth) MB above idle")
        let cleanup = try S3Client(configuration: S3Test.configuration(bucket: bucket))
        await S3Test.cleanUp(cleanup)
    }
}

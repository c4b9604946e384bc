import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamS3

/// A file of `--size-mib` up to S3 and back (benchmarks/s3/large-file.sh): byte-identical (SHA-256 of both),
/// throughput each way, and the process's peak RSS (VmHWM) against its RSS just before the upload, which shows
/// that the file passes through bounded memory whatever its size.
struct BenchS3Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3", abstract: "Upload and download a large file through S3 (s3.* settings): throughput and peak memory.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "File size in MiB.") var sizeMib = 64
    @Option(help: "Part size in MiB (default: s3.part_size_mb).") var partSizeMib: Int?
    @Option(help: "Parts in flight at once.") var concurrency = 2
    @Option(help: "Directory for the local file and its download (default: the system's temporary directory).") var workDir: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func run() async throws {
        var config = try global.loadConfiguration()
        guard config.s3.endpoint != nil else {
            throw CLIError("bench s3 needs s3.endpoint (VECTORSTREAM_S3_ENDPOINT; scripts/services/seaweedfs.sh env gives a local one)")
        }
        if let partSizeMib { config.s3.partSizeMB = partSizeMib }
        guard sizeMib >= 1 else { throw ValidationError("--size-mib must be at least 1") }
        var clientConfiguration = S3ClientConfiguration(settings: config.s3)
        clientConfiguration.uploadConcurrency = max(1, concurrency)
        let client = try S3Client(configuration: clientConfiguration, logger: global.makeLogger("vectorstream.s3"))
        let directory = workDir ?? NSTemporaryDirectory()
        let source = (directory as NSString).appendingPathComponent("vectorstream-bench-s3-\(UUID().uuidString).bin")
        let target = source + ".download"
        let key = "bench/\(UUID().uuidString).bin"
        defer {
            try? FileManager.default.removeItem(atPath: source)
            try? FileManager.default.removeItem(atPath: target)
        }
        do {
            try await client.createBucket()
            let sourceHash = try Self.writeFile(source, mebibytes: sizeMib)
            let idle = Self.memory("VmRSS")
            let bytes = Double(sizeMib) * 1_048_576

            let upStart = ContinuousClock.now
            let stored = try await client.uploadFile(source, key: key)
            let up = Self.seconds(ContinuousClock.now - upStart)
            let downStart = ContinuousClock.now
            let fetched = try await client.getObject(key: key, to: target)
            let down = Self.seconds(ContinuousClock.now - downStart)
            let peak = Self.memory("VmHWM")
            let targetHash = try Self.sha256(of: target)
            try await client.deleteObject(key: key)
            try await client.shutdown()

            let identical = sourceHash == targetHash && fetched.size == Int64(sizeMib) << 20
            let partBytes = max(config.s3.partSizeMB << 20, Int(Int64(sizeMib) << 20 / 10_000))
            let result: [String: Any] = [
                "endpoint": clientConfiguration.displayEndpoint, "size_mib": sizeMib, "part_size_mib": partBytes >> 20,
                "parts": Int64(sizeMib) << 20 > Int64(partBytes) ? (Int64(sizeMib) << 20 + Int64(partBytes) - 1) / Int64(partBytes) : 1,
                "concurrency": concurrency, "etag": stored.etag ?? "",
                "upload_seconds": Self.round(up), "upload_mb_per_s": Self.round(bytes / 1e6 / up),
                "download_seconds": Self.round(down), "download_mb_per_s": Self.round(bytes / 1e6 / down),
                "identical": identical, "sha256": sourceHash,
                "idle_rss_mb": Self.round(idle / 1e6), "peak_rss_mb": Self.round(peak / 1e6),
                "peak_above_idle_mb": Self.round((peak - idle) / 1e6),
            ]
            if json {
                let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                for key in result.keys.sorted() { print("\(key): \(result[key]!)") }
            }
            if !identical { throw CLIError("the downloaded file differs from the uploaded one (\(sourceHash) vs \(targetHash))") }
        } catch let error as S3Error {
            try? await client.shutdown()
            throw CLIError(error.description)
        }
    }

    /// Pseudo-random bytes (xorshift, so compression or deduplication cannot flatter the figures), 1 MiB at a
    /// time; returns the file's SHA-256.
    static func writeFile(_ path: String, mebibytes: Int) throws -> String {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CLIError("cannot create \(path)")
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var chunk = [UInt64](repeating: 0, count: 131_072)
        for _ in 0..<mebibytes {
            for i in chunk.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                chunk[i] = state
            }
            try handle.write(contentsOf: chunk.withUnsafeBytes { Data($0) })
        }
        try handle.close()
        return try sha256(of: path)
    }

    static func sha256(of path: String) throws -> String {
        do {
            return try S3Client.sha256Hex(ofFile: path)
        } catch {
            throw CLIError("cannot read \(path): \(error)")
        }
    }

    /// A line of /proc/self/status (`VmRSS`, `VmHWM`) in bytes.
    static func memory(_ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib * 1024
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
    static func round(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}

import Foundation
import GRDB
import Testing
import VectorStreamCore
import VectorStreamEmbedded
import VectorStreamGenerator

/// kill -9 at random points during `vectorstream run`, then restart on the same data directory.
@Suite("Crash recovery of vectorstream run", .serialized)
struct CrashRecoveryTests {
    static var binary: String? {
        if let path = ProcessInfo.processInfo.environment["VECTORSTREAM_BIN"] { return path }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [beside, beside.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("vectorstream").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for config in ["release", "debug"] {
            let candidate = repo.appendingPathComponent(".build/\(config)/vectorstream").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    func start(_ binary: String, file: String, dataDir: String, log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--source", file, "--data-dir", dataDir, "--no-server", "--trigger", "20ms", "--json"]
        var environment = ProcessInfo.processInfo.environment
        environment["VECTORSTREAM_MAX_EVENTS_PER_TRIGGER"] = "700"
        environment["VECTORSTREAM_EMBEDDER_THREADS"] = "1"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        return process
    }

    @Test func killNineLosesNothingAndStoresNothingTwice() async throws {
        let binary = try #require(Self.binary, "build the vectorstream binary first (swift build)")
        let dir = temporaryDirectory()
        let file = dir + "/events.jsonl"
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: 99, productCount: 120, invalidRatio: 0.01))
            .makeStream()
        let records = (0..<150_000).map { _ in stream.next() }
        try Data(records.flatMap { $0.bytes + [0x0A] }).write(to: URL(fileURLWithPath: file))
        let dataDir = dir + "/data"

        var random = SeededRandom(seed: UInt64(Date().timeIntervalSince1970))
        var kills = 0
        for attempt in 0..<12 where kills < 5 {
            let log = dir + "/run-\(attempt).log"
            let process = try start(binary, file: file, dataDir: dataDir, log: log)
            // Early kills land while the model loads or the catalog is embedded; later ones mid-stream.
            // A blocking sleep on purpose: other suites may hold the cooperative threads (starting servers), and a
            // Task.sleep could resume seconds late, after the run has finished by itself.
            usleep(UInt32(100 + random.below(attempt < 2 ? 600 : 2_500)) * 1_000)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal {
                kills += 1
            } else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                // Finished before the kill (a fast machine): fine when it succeeded.
                if process.terminationStatus != 0 || ProcessInfo.processInfo.environment["VECTORSTREAM_DEBUG_CRASH_TEST"] != nil {
                    Issue.record("run \(attempt) ended by itself (\(process.terminationStatus)): \(text.suffix(2_000))")
                }
            }
        }
        // Last run to the end of the file.
        let final = try start(binary, file: file, dataDir: dataDir, log: dir + "/final.log")
        final.waitUntilExit()
        #expect(final.terminationStatus == 0, "\((try? String(contentsOfFile: dir + "/final.log", encoding: .utf8))?.suffix(2_000) ?? "")")
        #expect(kills > 0)

        let db = try DatabaseQueue(path: dataDir + "/vectorstream.sqlite")
        let (events, deadLetters, vectors, upserts, distinctIDs) = try await db.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events")!,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters")!,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM product_vectors")!,
             try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'vectors_upserted'") ?? 0,
             try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT event_id) FROM events")!)
        }
        let valid = records.compactMap(\.event)
        #expect(events == valid.count, "every valid event stored")
        #expect(distinctIDs == events, "none stored twice")
        #expect(deadLetters == records.count - valid.count, "every bad record kept")
        let products = Set(valid.map(\.product.id)).count
        #expect(vectors == products)
        #expect(upserts == products, "no product embedded and stored twice")
    }
    @Test("run --until-idle on a file stores every event before it exits, and its summary matches the store (F4)")
    func untilIdleWaitsForTheBatchInFlight() async throws {
        let binary = try #require(Self.binary, "build the vectorstream binary first (swift build)")
        let dir = temporaryDirectory()
        let file = dir + "/events.jsonl"
        var stream = EventGenerator(configuration: GeneratorConfiguration(seed: 5, productCount: 600, invalidRatio: 0.05))
            .makeStream()
        let records = (0..<20_000).map { _ in stream.next() }
        try Data(records.flatMap { $0.bytes + [0x0A] }).write(to: URL(fileURLWithPath: file))
        let dataDir = dir + "/data"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // The first batch embeds 600 products: far longer than the 1 s of idleness allowed.
        process.arguments = ["run", "--source", file, "--data-dir", dataDir, "--no-server", "--until-idle", "1", "--json"]
        var environment = ProcessInfo.processInfo.environment
        environment["VECTORSTREAM_EMBEDDER_THREADS"] = "1"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let summary = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any],
                                   "summary: \(String(decoding: data, as: UTF8.self))")
        let valid = records.compactMap(\.event).count
        let invalid = records.count - valid
        #expect(summary["events_stored"] as? Int == valid)
        #expect(summary["events_rejected"] as? Int == invalid)
        let store = try #require(summary["store"] as? [String: Any])
        #expect(store["events"] as? Int == valid)
        #expect(store["dead_letters"] as? Int == invalid)

        let db = try DatabaseQueue(path: dataDir + "/vectorstream.sqlite")
        let (events, deadLetters) = try await db.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events")!, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM dead_letters")!)
        }
        #expect(events == valid)
        #expect(deadLetters == invalid)
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `vectorstream` command as a new user meets it (issue 21): run as a process, its exit status, stdout and
/// stderr checked. Needs the built binary (`swift build -c release`), or `VECTORSTREAM_BIN`.
@Suite("vectorstream command line", .serialized)
struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        var timedOut: Bool
        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    static func binary() throws -> String {
        try #require(CrashRecoveryTests.binary, "build the vectorstream binary first (swift build -c release)")
    }

    /// The environment of the test run without any `VECTORSTREAM_` setting, so that only `extra` counts.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VECTORSTREAM_") }
        env["VECTORSTREAM_EMBEDDER_THREADS"] = "1"
        for (k, v) in extra { env[k] = v }
        return env
    }

    static func start(_ arguments: [String], environment extra: [String: String] = [:], stdin: String? = nil,
                      in directory: String, output: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        process.environment = environment(extra)
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        FileManager.default.createFile(atPath: output + ".out", contents: nil)
        FileManager.default.createFile(atPath: output + ".err", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output + ".out")
        process.standardError = FileHandle(forWritingAtPath: output + ".err")
        if let stdin {
            let input = output + ".in"
            FileManager.default.createFile(atPath: input, contents: Data(stdin.utf8))
            process.standardInput = FileHandle(forReadingAtPath: input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// Runs the command to its end (killed after `timeout` seconds).
    static func run(_ arguments: [String], environment extra: [String: String] = [:], stdin: String? = nil,
                    timeout: Double = 120) throws -> Result {
        let directory = temporaryDirectory("cli")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let output = directory + "/command"
        let started = Date()
        let process = try start(arguments, environment: extra, stdin: stdin, in: directory, output: output)
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: output + ".out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "",
                      seconds: Date().timeIntervalSince(started), timedOut: timedOut)
    }

    /// A TCP port nothing listens on now.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A socket listening on 127.0.0.1 at a free port, as another server would; closed by the caller.
    static func listener() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        listen(fd, 16)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// The status code of `GET path` on 127.0.0.1:port, nil when nothing answers.
    static func httpStatus(port: Int, path: String = "/health") -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, buffer.count)
        guard n > 12 else { return nil }
        let line = String(decoding: buffer[0..<n], as: UTF8.self)
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    static func noUsageBlock(_ r: Result) -> Bool { !r.stderr.contains("Usage:") && !r.stderr.contains("USAGE:") }

    // MARK: 1. demo --data-dir never deletes what VectorStream did not create

    @Test func demoNeverDeletesAFolderItDidNotMake() throws {
        let dir = temporaryDirectory("demo-data-dir")
        try FileManager.default.createDirectory(atPath: dir + "/important", withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: dir + "/important/notes.txt"))
        let refused = try Self.run(["demo", "--data-dir", dir, "--events", "20", "--port", String(Self.freePort())])
        #expect(FileManager.default.fileExists(atPath: dir + "/important/notes.txt"), "the demo deleted a folder it did not make")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--data-dir") && refused.stderr.contains("not empty"), "\(refused.stderr)")
        #expect(Self.noUsageBlock(refused))

        // A new folder is the demo's: a second demo starts clean there, deleting only VectorStream's files.
        let fresh = temporaryDirectory("demo-fresh")
        let first = try Self.run(["demo", "--data-dir", fresh, "--events", "20", "--port", String(Self.freePort()), "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: fresh + "/vectorstream.sqlite"))
        try Data("mine".utf8).write(to: URL(fileURLWithPath: fresh + "/mine.txt"))
        let second = try Self.run(["demo", "--data-dir", fresh, "--events", "20", "--port", String(Self.freePort()), "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(FileManager.default.fileExists(atPath: fresh + "/mine.txt"))
        let summary = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        let store = summary?["store"] as? [String: Any]
        #expect((store?["events"] as? Int).map { $0 <= 20 } == true, "the second demo did not start clean: \(second.stdout)")
    }

    // MARK: 5. config --print masks every URL's password

    @Test func configPrintMasksPasswordsInEveryURL() throws {
        let r = try Self.run(["config", "--print"], environment: [
            "VECTORSTREAM_CLICKHOUSE_URL": "http://bob:urlpw1@clickhouse:8123",
            "VECTORSTREAM_MILVUS_URL": "http://bob:urlpw2@milvus:19530",
            "VECTORSTREAM_REDIS_URL": "redis://app:urlpw3@cache:6379/2",
            "VECTORSTREAM_CLICKHOUSE_PASSWORD": "urlpw4", "VECTORSTREAM_API_KEY": "urlpw5",
            "VECTORSTREAM_KAFKA_PROPERTY_SASL_PASSWORD": "urlpw6",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("urlpw"), "\(r.stdout)")
        #expect(r.stdout.contains("http://bob:****@clickhouse:8123"))
        #expect(r.stdout.contains("http://bob:****@milvus:19530"))
    }

    // MARK: 6. config --keys, mistyped variables and keys

    @Test func configKeysShowsFullNamesAndKafkaProperties() throws {
        let r = try Self.run(["config", "--keys"])
        #expect(r.status == 0)
        for name in ["VECTORSTREAM_KAFKA_EMBEDDINGS_READY_TOPIC", "VECTORSTREAM_REDIS_EMBEDDING_CACHE_TTL_SECONDS",
                     "kafka.properties.", "VECTORSTREAM_KAFKA_PROPERTY_"] {
            #expect(r.stdout.contains(name), "\(name) missing from config --keys")
        }
    }

    @Test func mistypedVariableIsWarnedAndMistypedKeysAreAllNamed() throws {
        let warned = try Self.run(["config"], environment: ["VECTORSTREAM_TRIGER_INTERVAL": "1s"])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr.contains("VECTORSTREAM_TRIGER_INTERVAL") && warned.stderr.contains("did you mean VECTORSTREAM_TRIGGER_INTERVAL"),
                "\(warned.stderr)")

        let dir = temporaryDirectory("config-typos")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/vs.yaml"
        try Data("pipeline:\n  trigger_intervall: 1s\nkafka:\n  brokerz: k:9092\n  properties:\n    sasl.mechanism: PLAIN\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        let r = try Self.run(["config", "--config", file])
        #expect(r.status != 0)
        #expect(r.stderr.contains("did you mean 'pipeline.trigger_interval'"), "\(r.stderr)")
        #expect(r.stderr.contains("did you mean 'kafka.brokers'"), "\(r.stderr)")
        #expect(!r.stderr.contains("kafka.session_timeout_ms"), "lists every key: \(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
        #expect(Self.noUsageBlock(r))
    }

    // MARK: 7. trigger interval needs a unit, and is bounded

    @Test func bareTriggerIntervalIsRefusedWithAUnitHint() throws {
        let bare = try Self.run(["config"], environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "10"])
        #expect(bare.status != 0)
        #expect(bare.stderr.contains("VECTORSTREAM_TRIGGER_INTERVAL") && bare.stderr.contains("10s"), "\(bare.stderr)")
        let huge = try Self.run(["config"], environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "99999999999s"])
        #expect(huge.status != 0, "99999999999s accepted")
        #expect(huge.stderr.contains("1ms...1h"), "\(huge.stderr)")
        let fine = try Self.run(["config"], environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "250ms"])
        #expect(fine.status == 0, "\(fine.stderr)")
    }

    // MARK: 9. embed --jsonl without a file reads stdin

    @Test func embedJSONLinesFromStdinWithoutAFile() throws {
        let input = "{\"text\": \"wireless earbuds\"}\n{\"text\": \"dog leash\"}\n"
        let r = try Self.run(["embed", "--jsonl"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any]
        #expect(first?["text"] as? String == "wireless earbuds")
        #expect((first?["embedding"] as? [Double])?.count == 384)
        // A file still works, in both spellings.
        let dir = temporaryDirectory("embed-file")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(input.utf8).write(to: URL(fileURLWithPath: dir + "/in.jsonl"))
        for arguments in [["embed", "--jsonl", dir + "/in.jsonl"], ["embed", "--jsonl=\(dir)/in.jsonl"]] {
            let fromFile = try Self.run(arguments)
            #expect(fromFile.status == 0, "\(arguments): \(fromFile.stderr)")
            #expect(fromFile.stdout.split(separator: "\n").count == 2)
        }
    }

    // MARK: 10. demo --events: the API stops with it, or --serve keeps it serving

    @Test func demoWithEventsSaysTheAPIStopsAndServeKeepsIt() throws {
        let stops = try Self.run(["demo", "--data-dir", temporaryDirectory("demo-stops"), "--events", "30",
                                  "--port", String(Self.freePort())])
        #expect(stops.status == 0, "\(stops.stderr)")
        #expect(stops.stderr.contains("--serve"), "the demo does not say the API stops with it: \(stops.stderr)")

        let port = Self.freePort()
        let dir = temporaryDirectory("demo-serve")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let process = try Self.start(["demo", "--data-dir", dir + "/data", "--events", "30", "--serve", "--port", String(port)],
                                     in: dir, output: dir + "/demo")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(90)
        while Self.httpStatus(port: port) != 200 && Date() < deadline && process.isRunning { usleep(200_000) }
        #expect(Self.httpStatus(port: port) == 200, "the API never answered")
        // 30 events take well under a few seconds; the API must still be there afterwards.
        sleep(4)
        #expect(process.isRunning, "the demo exited although --serve was given")
        #expect(Self.httpStatus(port: port) == 200)
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    // MARK: 11. errors: one line, the setting named, no usage block, failing early

    @Test func configurationErrorIsOneLineWithoutUsage() throws {
        let r = try Self.run(["run", "--source", "generator", "--events", "1", "--no-server"],
                             environment: ["VECTORSTREAM_TRIGGER_INTERVAL": "soon", "VECTORSTREAM_DATA_DIR": temporaryDirectory("usage")])
        #expect(r.status != 0)
        #expect(Self.noUsageBlock(r), "\(r.stderr)")
        #expect(r.stderrLines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("VECTORSTREAM_TRIGGER_INTERVAL"))
    }

    /// Only errors after parsing lose the usage block: help and a mistyped command line work as before.
    @Test func helpAndCommandLineMistakesStillShowUsage() throws {
        let help = try Self.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("OVERVIEW"), "\(help.stdout)\(help.stderr)")
        let subHelp = try Self.run(["embed", "--help"])
        #expect(subHelp.status == 0 && subHelp.stdout.contains("--jsonl"))
        let mistyped = try Self.run(["demo", "--events", "0"])
        #expect(mistyped.status != 0 && mistyped.stderr.contains("--events must be at least 1"))
        #expect(mistyped.stderr.contains("Usage:"))
    }

    @Test func portInUseNamesTheAddressAndTheFlagBeforeThePipelineStarts() throws {
        let (fd, port) = Self.listener()
        defer { close(fd) }
        let dataDir = temporaryDirectory("port-in-use")
        let r = try Self.run(["run", "--source", "generator", "--events", "100", "--port", String(port), "--data-dir", dataDir],
                             timeout: 60)
        #expect(r.status != 0)
        #expect(r.stderr.contains("127.0.0.1:\(port)"), "\(r.stderr)")
        #expect(r.stderr.contains("--port") && r.stderr.contains("VECTORSTREAM_HTTP_PORT"), "\(r.stderr)")
        #expect(!r.stderr.contains("errno"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dataDir + "/vectorstream.sqlite"), "the pipeline started before the bind failed")
        #expect(Self.noUsageBlock(r))

        let demo = try Self.run(["demo", "--data-dir", temporaryDirectory("port-in-use-demo"), "--events", "10", "--port", String(port)],
                                timeout: 60)
        #expect(demo.status != 0)
        #expect(demo.stderr.contains("127.0.0.1:\(port)") && demo.stderr.contains("--port"), "\(demo.stderr)")
    }

    @Test func missingModelDirectoryNamesTheVariableAndMakesTheConfigurationInvalid() throws {
        let missing = temporaryDirectory("no-model") + "/model"
        let config = try Self.run(["config"], environment: ["VECTORSTREAM_MODEL_DIR": missing])
        #expect(config.status != 0, "config calls a missing model directory valid")
        #expect(config.stderr.contains("invalid") && config.stderr.contains("VECTORSTREAM_MODEL_DIR"), "\(config.stderr)")
        let run = try Self.run(["run", "--source", "generator", "--events", "1", "--no-server", "--data-dir", temporaryDirectory("no-model-run")],
                               environment: ["VECTORSTREAM_MODEL_DIR": missing])
        #expect(run.status != 0)
        #expect(run.stderr.contains("VECTORSTREAM_MODEL_DIR") && run.stderr.contains(missing), "\(run.stderr)")
        #expect(run.stderrLines.count == 1, "\(run.stderr)")
        #expect(!run.stderr.contains("pip install"), "advises pip install for a directory the user set: \(run.stderr)")
    }

    @Test func unreachableKafkaIsOneClearErrorNamingTheSetting() throws {
        let port = Self.freePort()
        let r = try Self.run(["run", "--no-server", "--data-dir", temporaryDirectory("kafka-down")],
                             environment: ["VECTORSTREAM_KAFKA_BROKERS": "127.0.0.1:\(port)"], timeout: 60)
        #expect(!r.timedOut)
        #expect(r.status != 0)
        #expect(r.seconds < 30, "took \(r.seconds) s")
        let refused = r.stderrLines.filter { $0.contains("Connection refused") }.count
        #expect(refused <= 3, "\(refused) 'Connection refused' lines")
        let last = String(r.stderrLines.last ?? "")
        #expect(last.contains("kafka.brokers") && last.contains("VECTORSTREAM_KAFKA_BROKERS"), "\(last)")
    }

    @Test func generateToUnreachableKafkaFailsFastWithoutClaimingDelivery() throws {
        let port = Self.freePort()
        let r = try Self.run(["generate", "--events", "3", "--kafka", "127.0.0.1:\(port)"], timeout: 40)
        #expect(!r.timedOut, "still running after 40 s")
        #expect(r.status != 0)
        #expect(r.seconds < 20, "took \(r.seconds) s")
        #expect(!r.stderr.contains("3/3") && !r.stderr.contains("100%"), "\(r.stderr)")
        #expect(r.stderr.contains("--kafka") && r.stderr.contains("127.0.0.1:\(port)"), "\(r.stderr)")
    }

    // MARK: 12. the human summary is readable and has the --json figures

    @Test func humanSummaryIsReadableAndAgreesWithJSON() throws {
        let dir = temporaryDirectory("summary")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let events = dir + "/events.jsonl"
        let generated = try Self.run(["generate", "--events", "1500", "--products", "40", "--invalid-ratio", "0.01", "--out", events])
        #expect(generated.status == 0, "\(generated.stderr)")
        let json = try Self.run(["run", "--source", events, "--no-server", "--json", "--data-dir", dir + "/a", "--trigger", "50ms"])
        let human = try Self.run(["run", "--source", events, "--no-server", "--data-dir", dir + "/b", "--trigger", "50ms"])
        #expect(json.status == 0 && human.status == 0, "\(json.stderr) \(human.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let text = human.stdout
        // No Swift dictionary literals.
        #expect(!text.contains("[\"") && !text.contains("[:]"), "\(text)")
        // Counts the two runs share (the same input), grouped as in the human form.
        func grouped(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, c) in s.enumerated() {
                if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
                out.append(c)
            }
            return out
        }
        #expect(text.contains("1,500"), "\(text)")
        let store = try #require(object["store"] as? [String: Any])
        let byReason = try #require(store["dead_letters_by_reason"] as? [String: Int])
        #expect(!byReason.isEmpty)
        for (reason, count) in byReason {
            #expect(text.split(separator: "\n").contains { $0.contains(reason) && $0.hasSuffix(" " + grouped(count)) },
                    "\(reason) \(count) missing: \(text)")
        }
        for key in ["events_total", "events_rejected", "events_stored"] {
            let n = try #require(object[key] as? Int)
            #expect(text.split(separator: "\n").contains { $0.hasSuffix(" " + grouped(n)) }, "\(key) = \(n) missing: \(text)")
        }
        for key in ["events", "vectors", "dead_letters"] {
            let n = try #require(store[key] as? Int)
            #expect(text.split(separator: "\n").contains { $0.hasPrefix("  ") && $0.hasSuffix(" " + grouped(n)) }, "store \(key) = \(n) missing: \(text)")
        }
        // Values line up in one column.
        let valueColumns = Set(text.split(separator: "\n").filter { $0.hasSuffix(grouped(object["events_total"] as? Int ?? -1)) || $0.hasSuffix(grouped(object["events_stored"] as? Int ?? -1)) }.map(\.count))
        #expect(valueColumns.count == 1, "\(text)")
    }
}

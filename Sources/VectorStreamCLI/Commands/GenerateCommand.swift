import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamKafka
import Logging

/// Deterministic shop events as JSON lines (stdout or a file), paced by a token bucket.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Generate realistic, deterministic shop events as JSON lines.")

    @Option(help: "Seed: the same seed gives the same catalog and events.") var seed: UInt64 = 42
    @Option(help: "Products in the catalog.") var products = 2_000
    @Option(help: "Distinct users (default: five per product).") var users: Int?
    @Option(help: "Number of events.") var events = 10_000
    @Option(help: "Events per second (default: as fast as possible).") var rate: Double?
    @Option(help: "Share of malformed events, each kind in turn.") var invalidRatio = 0.0
    @Option(help: "Write to this file instead of stdout.") var out: String?
    @Flag(help: "Stamp events with the current time instead of the reproducible simulated clock.") var liveTimestamps = false
    @Flag(help: "Write the catalog (one JSON product per line) instead of events.") var catalog = false
    @Option(help: "Produce to Kafka at these bootstrap servers instead of writing JSON lines.") var kafka: String?
    @Option(help: "Topic for --kafka.") var topic = "ecommerce-events"
    @Option(help: "Write the catalog as CSV (id,name,description,category,price; RFC 4180, CRLF) to this file instead of events.")
    var catalogCsv: String?
    @Option(help: "With --catalog-csv: about this percent of extra bad rows (ragged, bad price, empty name, duplicate id).")
    var badRowsPercent = 0.0

    func validate() throws {
        if events < 0 { throw ValidationError("--events must not be negative") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
        if !(0...1).contains(invalidRatio) { throw ValidationError("--invalid-ratio must be between 0 and 1") }
        if products < 1 { throw ValidationError("--products must be at least 1") }
    }

    func run() async throws {
        var config = GeneratorConfiguration(seed: seed, productCount: products, userCount: users, invalidRatio: invalidRatio)
        config.liveTimestamps = liveTimestamps
        let generator = EventGenerator(configuration: config)
        if let catalogCsv {
            let text = CatalogCSV.document(Array(generator.catalog.prefix(products)), badRowsPercent: badRowsPercent)
            guard FileManager.default.createFile(atPath: catalogCsv, contents: Data(text.utf8)) else {
                throw ValidationError("cannot write '\(catalogCsv)'")
            }
            return
        }
        let output: FileHandle
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw ValidationError("cannot write '\(out)'")
            }
            output = handle
        } else {
            output = FileHandle.standardOutput
        }
        defer { if out != nil { try? output.close() } }
        if catalog {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            for product in generator.catalog {
                output.write(try encoder.encode(product) + Data("\n".utf8))
            }
            return
        }
        if let kafka {
            try await produce(generator, brokers: kafka)
            return
        }
        var stream = generator.makeStream()
        var pacer = Pacer(ratePerSecond: rate)
        let progress = out != nil ? ProgressReporter(total: events, label: "generated") : nil
        let started = ContinuousClock.now
        var written = 0
        var chunk = [UInt8]()
        chunk.reserveCapacity(1 << 20)
        while written < events {
            let n = try await pacer.acquire(min(1024, events - written))
            for _ in 0..<n {
                chunk += stream.next().bytes
                chunk.append(0x0A)
            }
            written += n
            if chunk.count > 512 * 1024 || rate != nil || written == events {
                output.write(Data(chunk))
                chunk.removeAll(keepingCapacity: true)
            }
            if let progress, written % 65_536 < n || written == events {
                let elapsed = started.duration(to: .now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                progress.update(done: written, rate: seconds > 0 ? Double(written) / seconds : 0)
            }
        }
        progress?.finish()
    }

    /// Produces with a real, idempotent producer, keyed by user id, paced by the token bucket when --rate is set.
    /// The brokers are asked for metadata first (a few seconds), so an unreachable one fails at once; progress
    /// counts deliveries the brokers acknowledged, not messages handed to the client's queue.
    private func produce(_ generator: EventGenerator, brokers: String) async throws {
        _ = Observability.bootstrap(logLevel: ProcessInfo.processInfo.environment["VECTORSTREAM_LOG_LEVEL"] ?? "notice")
        var logger = Logger(label: "vectorstream.generate")
        logger.logLevel = .notice
        let configuration = KafkaConfiguration(bootstrapServers: brokers)
        try await Preflight.checkKafka(configuration, setting: "--kafka \(VectorStreamConfiguration.maskURLs(in: brokers))",
                                       change: "--kafka", timeout: .seconds(5), logger: logger)
        let producer = try KafkaEventProducer(configuration: configuration, topic: topic, logger: logger)
        var stream = generator.makeStream()
        var pacer = Pacer(ratePerSecond: rate)
        let progress = ProgressReporter(total: events, label: "delivered")
        let started = ContinuousClock.now
        let every: Duration = progress.isTerminal ? .milliseconds(500) : .seconds(5)
        var lastShown = started
        func show(queued: Int) {
            let seconds = Self.seconds(started.duration(to: .now))
            let delivered = Int(producer.delivered)
            var extra = "queued \(ProgressReporter.grouped(queued))"
            if producer.failed > 0 { extra += " · failed \(ProgressReporter.grouped(Int(producer.failed)))" }
            progress.update(done: delivered, rate: seconds > 0 ? Double(delivered) / seconds : 0, extra: extra)
        }
        var sent = 0
        while sent < events {
            let n = try await pacer.acquire(min(5_000, events - sent))
            let records = (0..<n).map { _ -> KafkaEventProducer.Record in
                let r = stream.next()
                return .init(userID: r.event?.userID, value: r.bytes)
            }
            try await producer.send(records)
            sent += n
            if lastShown.duration(to: .now) >= every {
                lastShown = .now
                show(queued: sent)
            }
        }
        // Deliveries keep coming while flush waits; show them as they do.
        let total = sent
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                if Task.isCancelled { break }
                show(queued: total)
            }
        }
        var flushError: (any Error)?
        do {
            try await producer.flush(timeout: .seconds(60))
        } catch {
            flushError = error
        }
        reporter.cancel()
        show(queued: total)
        progress.finish()
        let delivered = producer.delivered, failed = producer.failed
        if let flushError {
            throw CLIError("\(ProgressReporter.grouped(total - Int(delivered))) of \(ProgressReporter.grouped(total)) events were not "
                           + "delivered to \(topic) at \(VectorStreamConfiguration.maskURLs(in: brokers)) (--kafka): "
                           + "\(CLIError.message(for: flushError)); check that the brokers are up and the topic exists")
        }
        FileHandle.standardError.write(Data("delivered \(ProgressReporter.grouped(Int(delivered))) events to \(topic) (\(failed) failed)\n".utf8))
        if failed > 0 { throw ExitCode.failure }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

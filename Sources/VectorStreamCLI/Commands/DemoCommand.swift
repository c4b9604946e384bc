import ArgumentParser
import Foundation
import VectorStreamCore
import VectorStreamGenerator
import VectorStreamServer

/// Generator, pipeline and API in one process on the embedded stores: what a newcomer runs first.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate events, run the pipeline on embedded stores and serve the API and dashboard.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Stop after this many events and print a summary (default: run until interrupted). The API stops with the demo unless --serve is given.")
    var events: Int?

    @Flag(help: "With --events: keep serving the API and dashboard after the last event, until Ctrl-C.")
    var serve = false

    @Option(help: "Events per second (default: as fast as the pipeline takes them).")
    var rate: Double?

    @Option(help: "Generator seed.")
    var seed: UInt64 = 42

    @Option(help: "Products in the catalog.")
    var products = 2_000

    @Option(help: "Share of malformed events mixed in, each kind in turn.")
    var invalidRatio = 0.005

    @Option(help: "Micro-batch trigger interval for the demo (the configuration's default is Spark's 10s).")
    var trigger = "100ms"

    @Option(help: "HTTP host.") var host: String?
    @Option(help: "HTTP port.") var port: Int?

    @Flag(help: "Print the summary as one JSON object on stdout.")
    var json = false

    @Flag(help: "Keep the demo's data from an earlier run instead of starting clean.")
    var keepData = false

    /// Marks a folder the demo made; only such a folder's VectorStream files are ever deleted.
    static let marker = ".vectorstream-demo"

    func validate() throws {
        if let events, events < 1 { throw ValidationError("--events must be at least 1") }
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
        if products < 1 { throw ValidationError("--products must be at least 1") }
        if !(0...1).contains(invalidRatio) { throw ValidationError("--invalid-ratio must be between 0 and 1") }
    }

    func run() async throws {
        var config = try global.loadConfiguration()
        try config.applyFlags(trigger: trigger, host: host, port: port)
        try Preflight.checkModel(config)
        try Preflight.checkPortFree(config)
        let registry = Observability.bootstrap(logLevel: global.logLevel)
        let logger = global.makeLogger("vectorstream.demo")

        let dataDirectory = global.dataDir ?? (config.dataDirectory as NSString).appendingPathComponent("demo")
        try prepareDataDirectory(dataDirectory, givenByUser: global.dataDir != nil, deadLetterFile: config.pipeline.deadLetterFile)
        FileHandle.standardError.write(Data("vectorstream: loading the model and opening stores in \(dataDirectory)\n".utf8))
        if let events {
            let after = serve ? "then keeps serving the API until Ctrl-C" : "then exits, and the API with it (--serve keeps it serving)"
            FileHandle.standardError.write(Data("vectorstream: the demo stops after \(ProgressReporter.grouped(events)) events and \(after)\n".utf8))
        }
        let assembly = try await PipelineAssembly.make(configuration: config, dataDirectory: dataDirectory, logger: logger)

        var generatorConfig = GeneratorConfiguration(seed: seed, productCount: products, invalidRatio: invalidRatio)
        generatorConfig.liveTimestamps = true
        let generator = EventGenerator(configuration: generatorConfig)
        var engineConfig = config.engine
        engineConfig.maxEventsPerTrigger = min(engineConfig.maxEventsPerTrigger, 20_000)
        let source = GeneratorSource(generator: generator, events: events, rate: rate,
                                     bufferCapacity: engineConfig.maxEventsPerTrigger * 2)

        var runner = PipelineRunner(
            assembly: assembly, engineConfiguration: engineConfig,
            http: APIServerConfiguration(host: config.http.host, port: config.http.port, apiKey: config.http.apiKey,
                                         maxBodyBytes: config.http.maxBodyBytes, readTimeout: config.http.readTimeout,
                                         breakerFailureThreshold: config.http.breakerFailureThreshold,
                                         breakerCooldown: config.http.breakerCooldown),
            registry: registry, logger: logger, expectedEvents: events)
        runner.serveAfterSource = events == nil || serve
        let stats = try await runner.run(source: source)
        let summary = try await Summary.make(stats: stats, assembly: assembly, dataDirectory: dataDirectory)
        await assembly.shutdown()
        summary.print(json: json)
        if events != nil && !serve && !json {
            FileHandle.standardError.write(Data("vectorstream: the demo has ended and the API with it; `vectorstream demo --events N --serve` keeps it serving\n".utf8))
        }
    }

    /// Starts clean without deleting anything VectorStream did not create. In a folder the demo made (it holds the
    /// marker) or one that holds only VectorStream's files, those files are deleted and nothing else; a new or
    /// empty folder is used and marked; any other folder is refused, since it holds someone's files. `--keep-data`
    /// uses what is there.
    func prepareDataDirectory(_ path: String, givenByUser: Bool, deadLetterFile: String) throws {
        let fm = FileManager.default
        let flag = givenByUser ? "--data-dir \(path)" : "the demo's folder \(path) (data_dir/demo)"
        var isDirectory: ObjCBool = false
        var mark = true
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CLIError("\(flag) is a file, not a folder; give a new or empty folder")
            }
            let entries = try fm.contentsOfDirectory(atPath: path)
            func isOurs(_ name: String) -> Bool {
                name == Self.marker || name.hasPrefix("vectorstream.sqlite") || name == deadLetterFile
                    || name == (deadLetterFile as NSString).lastPathComponent
            }
            // A folder of VectorStream's files only (one made before the marker existed) is a data directory too.
            let demoFolder = entries.contains(Self.marker) || entries.allSatisfy(isOurs)
            mark = demoFolder || entries.isEmpty
            if keepData {
                if !demoFolder && !entries.isEmpty && !entries.contains(where: { $0.hasPrefix("vectorstream.sqlite") }) {
                    throw CLIError("\(flag) holds no VectorStream store to keep; leave out --keep-data to start one there "
                                   + "(only in a new or empty folder)")
                }
            } else if demoFolder {
                for name in entries where isOurs(name) && name != Self.marker {
                    try fm.removeItem(atPath: (path as NSString).appendingPathComponent(name))
                }
            } else if !entries.isEmpty {
                let shown = entries.sorted().prefix(3).joined(separator: ", ") + (entries.count > 3 ? ", ..." : "")
                throw CLIError("\(flag) is not empty (\(shown)) and was not made by the demo, which starts clean; "
                               + "give a new or empty folder, or --keep-data to run on the VectorStream store in it")
            }
        }
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        let marker = (path as NSString).appendingPathComponent(Self.marker)
        if mark && !fm.fileExists(atPath: marker) {
            fm.createFile(atPath: marker, contents: Data("made by `vectorstream demo`: a new demo deletes only VectorStream's files here\n".utf8))
        }
    }
}

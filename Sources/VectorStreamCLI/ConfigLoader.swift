import Foundation
import VectorStreamCore
import Yams

/// Builds the effective configuration: defaults, then one YAML file, then `VECTORSTREAM_...` variables.
enum ConfigLoader {
    /// `explicitPath` (from `--config`), else `VECTORSTREAM_CONFIG`, else `vectorstream.yaml` when present.
    /// With `warn`, each `VECTORSTREAM_...` variable no setting reads is reported on stderr ("did you mean").
    static func load(explicitPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                     warn: Bool = false) throws -> VectorStreamConfiguration {
        if warn {
            for warning in VectorStreamConfiguration.environmentWarnings(environment) { printError("warning: \(warning)") }
        }
        var config = VectorStreamConfiguration()
        let path = explicitPath ?? environment["VECTORSTREAM_CONFIG"]
            ?? (FileManager.default.fileExists(atPath: "vectorstream.yaml") ? "vectorstream.yaml" : nil)
        var values: [String: String] = [:]
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                let how = explicitPath != nil ? "--config" : environment["VECTORSTREAM_CONFIG"] != nil ? "VECTORSTREAM_CONFIG" : "./vectorstream.yaml"
                throw ConfigurationError("configuration file '\(path)' (from \(how)) cannot be read; check the path")
            }
            values = try flatten(yaml: String(decoding: data, as: UTF8.self), origin: path)
        }
        try config.apply(file: values, origin: path ?? "defaults", environment: environment)
        return config
    }

    /// Nested YAML maps become dotted keys (`pipeline.trigger_interval`); scalars become their text.
    static func flatten(yaml: String, origin: String) throws -> [String: String] {
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            let text = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: " ")
            throw ConfigurationError("\(origin) is not valid YAML: \(text)")
        }
        guard let root else { return [:] }
        guard let map = root as? [String: Any] else { throw ConfigurationError("\(origin): the top level must be a map") }
        var out: [String: String] = [:]
        func walk(_ value: Any, _ prefix: String) throws {
            switch value {
            case let m as [String: Any]:
                for (k, v) in m { try walk(v, prefix.isEmpty ? k : "\(prefix).\(k)") }
            case is [Any]:
                throw ConfigurationError("\(origin): \(prefix) must be a single value, not a list")
            case is NSNull:
                out[prefix] = ""
            default:
                out[prefix] = "\(value)"
            }
        }
        try walk(map, "")
        return out
    }
}

extension VectorStreamConfiguration {
    /// Applies the `--trigger`, `--host` and `--port` flags that `run` and `demo` share, recording that the flag set
    /// each value (so a later error names the flag, not the file).
    mutating func applyFlags(trigger: String?, host: String?, port: Int?) throws {
        if let trigger {
            do {
                pipeline.triggerInterval = try parseDuration(trigger, within: triggerIntervalBounds)
            } catch let error as ConfigurationError {
                throw CLIError("--trigger \(trigger): \(error.description)")
            }
        }
        if let host {
            http.host = host
            origins["http.host"] = "--host"
        }
        if let port {
            http.port = port
            origins["http.port"] = "--port"
        }
    }
}

import Foundation
import VectorStreamCore
import Yams

/// Builds the effective configuration: defaults, then one YAML file, then `VECTORSTREAM_...` variables.
enum ConfigLoader {
    /// `explicitPath` (from `--config`), else `VECTORSTREAM_CONFIG`, else `vectorstream.yaml` when present.
    static func load(explicitPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> VectorStreamConfiguration {
        var config = VectorStreamConfiguration()
        let path = explicitPath ?? environment["VECTORSTREAM_CONFIG"]
            ?? (FileManager.default.fileExists(atPath: "vectorstream.yaml") ? "vectorstream.yaml" : nil)
        var values: [String: String] = [:]
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("configuration file '\(path)' cannot be read")
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
            throw ConfigurationError("\(origin) is not valid YAML: \(error)")
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

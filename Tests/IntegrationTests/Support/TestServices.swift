import Foundation
import VectorStreamTestSupport

/// Starts the real servers the integration tests need, through the repo's own scripts.
///
/// Each service is started at most once per test process (`scripts/services/NAME.sh start` is idempotent
/// and prints the URL as its last line). A URL already given in the environment is used as it is.
enum TestServices {
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The URL of a running service: from `environmentVariable` when set, else started by its script.
    static func url(_ service: String, environmentVariable: String) throws -> String {
        if let url = ProcessInfo.processInfo.environment[environmentVariable], !url.isEmpty { return url }
        return try run(script: "scripts/services/\(service).sh", arguments: ["start"])
    }

    /// Runs a repo script and returns the last line it printed.
    @discardableResult
    static func run(script: String, arguments: [String], environment: [String: String] = [:]) throws -> String {
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let outputPath = NSTemporaryDirectory() + "vectorstream-script-\(UUID().uuidString).out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        // stderr into the same file: the last line (the URL) is printed on stdout after any progress on stderr.
        let status = try ChildProcess.run("/bin/bash", [repoRoot.appendingPathComponent(script).path] + arguments,
                                          environment: merged, directory: repoRoot.path, outputPath: outputPath)
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw StartFailure(description: "\(script) \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
        }
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }
}

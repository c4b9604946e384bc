import Foundation

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
    static func run(script: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repoRoot.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = repoRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw StartFailure(description: "\(script) \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(text)")
        }
        return text.split(separator: "\n").last.map(String.init) ?? ""
    }
}

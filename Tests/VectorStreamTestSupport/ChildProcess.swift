import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to its end with posix_spawn and waitpid on its own pid.
///
/// Not Foundation's `Process`: its `waitUntilExit` was seen never to return while several tests spawned scripts at
/// once (the script had exited and stayed a zombie nobody reaped; the whole integration run hung). waitpid on the
/// child's own pid cannot miss its end.
public enum ChildProcess {
    public struct SpawnFailure: Error, CustomStringConvertible { public var description: String }

    /// Output and error go to `outputPath` (a file, never a pipe: a server the program leaves running must not
    /// hold our read end open); stdin is /dev/null. Returns the exit status (128 + signal when killed).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    directory: String? = nil, outputPath: String, errorToOutput: Bool = true) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if errorToOutput { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        // GNU env's --chdir: Glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift here.
        let command = directory.map { ["/usr/bin/env", "--chdir=\($0)", executable] } ?? [executable]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, nil, argv, env)
        guard result == 0 else { throw SpawnFailure(description: "spawn \(executable): \(String(cString: strerror(result)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = status & 0x7f == 0
        return exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

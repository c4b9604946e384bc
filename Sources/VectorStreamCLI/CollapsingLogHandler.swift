import Foundation
import Logging
import Synchronization

/// Which log lines were seen lately, shared by every logger of the process.
///
/// A client library that cannot reach its server says so on every attempt: librdkafka logged about 480
/// "Connection refused" lines in 15 s for an unreachable broker. The first line of a kind is shown; repeats within
/// `window` are counted, and the next one after the window is shown with the count ("... (and 57 more like it
/// in the last 30s)"). Lines are of a kind when they differ only in numbers and parenthesised details
/// (timings, librdkafka's own "n identical error(s) suppressed").
final class RepeatedLogLines: Sendable {
    struct Entry {
        var lastShown: ContinuousClock.Instant
        var suppressed: Int
    }

    let window: Duration
    private let entries = Mutex<[String: Entry]>([:])

    init(window: Duration = .seconds(30)) { self.window = window }

    /// nil: do not show the line; otherwise the count of lines like it not shown since the last one (0 for a new line).
    func admit(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        entries.withLock { entries in
            if var entry = entries[key] {
                if entry.lastShown.duration(to: now) < window {
                    entry.suppressed += 1
                    entries[key] = entry
                    return nil
                }
                let count = entry.suppressed
                entries[key] = Entry(lastShown: now, suppressed: 0)
                return count
            }
            if entries.count > 2_000 { entries.removeAll() }  // bounded: a flood of distinct lines is shown as is
            entries[key] = Entry(lastShown: now, suppressed: 0)
            return 0
        }
    }

    /// The kind of a line: digits and parenthesised parts left out.
    static func kind(label: String, level: Logger.Level, message: String) -> String {
        var out = "\(label)|\(level)|"
        var depth = 0
        var lastWasDigit = false
        for c in message {
            if c == "(" { depth += 1; continue }
            if c == ")" { depth = max(0, depth - 1); continue }
            if depth > 0 { continue }
            if c.isNumber {
                if !lastWasDigit { out.append("#") }
                lastWasDigit = true
            } else {
                out.append(c)
                lastWasDigit = false
            }
        }
        return out
    }
}

/// A log handler that shows repeated lines once per window, with a count of those it left out.
struct CollapsingLogHandler: LogHandler {
    var wrapped: StreamLogHandler
    let repeats: RepeatedLogLines
    let label: String

    init(_ wrapped: StreamLogHandler, repeats: RepeatedLogLines, label: String) {
        self.wrapped = wrapped
        self.repeats = repeats
        self.label = label
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        let kind = RepeatedLogLines.kind(label: label, level: event.level, message: event.message.description)
        guard let skipped = repeats.admit(kind) else { return }
        var event = event
        if skipped > 0 {
            event.message = "\(event.message) (and \(skipped) more like it in the last \(formatSeconds(repeats.window)))"
        }
        wrapped.log(event: event)
    }

    private func formatSeconds(_ d: Duration) -> String { "\(d.components.seconds)s" }
}

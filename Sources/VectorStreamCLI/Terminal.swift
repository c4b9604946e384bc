import Foundation
import VectorStreamCore

/// Progress on stderr: a bar with rate and ETA on a terminal, a plain line every few seconds otherwise.
struct ProgressReporter: Sendable {
    let total: Int?
    let label: String
    let isTerminal = isatty(STDERR_FILENO) != 0

    func render(done: Int, rate: Double, extra: String) -> String {
        var line = "\(label) \(Self.grouped(done))"
        if let total, total > 0 {
            let fraction = min(Double(done) / Double(total), 1)
            let width = 24
            let filled = Int(fraction * Double(width))
            line = "\(label) [\(String(repeating: "█", count: filled))\(String(repeating: "░", count: width - filled))] "
                + "\(Self.grouped(done))/\(Self.grouped(total)) \(Int(fraction * 100))%"
            if rate > 0, done < total { line += " eta \(Int(Double(total - done) / rate))s" }
        }
        return line + " · \(Self.grouped(Int(rate)))/s" + (extra.isEmpty ? "" : " · " + extra)
    }

    func update(done: Int, rate: Double, extra: String = "") {
        let text = render(done: done, rate: rate, extra: extra)
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[2K" + text : text + "\n").utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func grouped(_ n: Int) -> String {
        let s = String(abs(n))
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("vectorstream: " + message + "\n").utf8))
}

import Foundation

/// Small helpers for the `{"text": ..., "embedding": [...]}` JSON lines the CLI reads and writes.
public enum EmbeddingJSONLines {
    public enum LineError: Error, CustomStringConvertible {
        case invalid(line: Int, reason: String)
        public var description: String {
            switch self {
            case .invalid(let line, let reason): return "line \(line): \(reason)"
            }
        }
    }

    /// The `text` of one JSON line `{"text": "..."}`; nil for a blank line.
    public static func text(ofLine line: Substring, number: Int) throws -> String? {
        if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        else { throw LineError.invalid(line: number, reason: "not valid JSON") }
        guard let dictionary = object as? [String: Any], let text = dictionary["text"] as? String else {
            throw LineError.invalid(line: number, reason: #"expected an object with a string "text""#)
        }
        return text
    }

    /// One output line (no newline): `{"text": ..., "embedding": [...]}`, floats in shortest round-trip form.
    public static func line(text: String, embedding: [Float]) -> String {
        var out = #"{"text":"#
        out.reserveCapacity(text.utf8.count + embedding.count * 12 + 32)
        appendEscaped(text, to: &out)
        out += #","embedding":["#
        for (index, value) in embedding.enumerated() {
            if index > 0 { out += "," }
            out += value.description
        }
        out += "]}"
        return out
    }

    static func appendEscaped(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar == "\u{2028}" || scalar == "\u{2029}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

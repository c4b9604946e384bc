import Foundation

/// What went wrong talking to ClickHouse, with the server's own error code where it gave one.
///
/// Never carries credentials: messages come from the server or from the connection, and URLs are masked.
public enum ClickHouseError: Error, Sendable, Hashable {
    /// The server refused the query: `code` as in `system.errors` (62 syntax error, 60 unknown table, ...).
    case server(code: Int, message: String)
    /// The server could not be reached or the connection broke (down, restarting, network).
    case unavailable(url: String, reason: String)
    /// The server answered, but not in a way this client understands.
    case unexpectedResponse(status: Int, body: String)
    /// A result row did not have the shape the caller expected.
    case malformedResult(String)

    /// True when trying the same thing again later may succeed (the engine retries the batch anyway;
    /// this tells logs and health whether waiting helps).
    public var isTransient: Bool {
        switch self {
        case .unavailable: return true
        case .server(let code, _): return Self.transientCodes.contains(code)
        case .unexpectedResponse(let status, _): return status >= 500
        case .malformedResult: return false
        }
    }

    /// Server codes that clear up by themselves: timeouts, network, memory, too many parts or queries.
    static let transientCodes: Set<Int> = [159, 160, 164, 202, 203, 209, 210, 241, 242, 252, 285, 319, 425]

    /// Reads the error text ClickHouse sends, in the 18.x form
    /// `Code: 62, e.displayText() = DB::Exception: Syntax error ..., e.what() = DB::Exception`
    /// and the 21+ form `Code: 62. DB::Exception: Syntax error ... (SYNTAX_ERROR) (version 23.8.1.1)`.
    /// `headerCode` is `X-ClickHouse-Exception-Code`, sent by newer servers.
    public static func parse(_ text: String, headerCode: Int? = nil, status: Int = 500) -> ClickHouseError {
        let trimmed = text.trimmingWhitespace()
        var code = headerCode
        if code == nil, let range = trimmed.range(of: "Code: ") {
            code = Int(trimmed[range.upperBound...].prefix { $0.isNumber })
        }
        guard let code else { return .unexpectedResponse(status: status, body: String(trimmed.prefix(2_000))) }
        var message = Substring(trimmed)
        if let range = message.range(of: "DB::Exception: ") {
            message = message[range.upperBound...]
        } else if let range = message.range(of: "e.displayText() = ") {
            message = message[range.upperBound...]
        }
        if let range = message.range(of: ", e.what() = ") { message = message[..<range.lowerBound] }
        if let range = message.range(of: " (version ", options: .backwards) { message = message[..<range.lowerBound] }
        return .server(code: code, message: String(message.prefix(2_000)).trimmingWhitespace())
    }

    /// Whether a line of a streamed result is the exception the server appends when a query fails midway.
    static func looksLikeException(_ line: String) -> Bool {
        line.hasPrefix("Code: ") && line.contains("DB::Exception")
    }
}

extension ClickHouseError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .server(let code, let message): "ClickHouse error \(code): \(message)"
        case .unavailable(let url, let reason): "ClickHouse at \(url) is unavailable: \(reason)"
        case .unexpectedResponse(let status, let body): "ClickHouse answered HTTP \(status): \(body)"
        case .malformedResult(let detail): "unexpected ClickHouse result: \(detail)"
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}

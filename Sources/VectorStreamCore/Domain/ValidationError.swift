/// Why a record was rejected. Each case names the field so the producer can fix it.
public enum ValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    case notJSON(String)
    case notAnObject
    case recordTooLarge(bytes: Int, limit: Int)
    case missingField(String)
    case wrongType(field: String, expected: String)
    case emptyField(String)
    case unknownEventType(String)
    case invalidPrice(String)
    case badTimestamp(String)
    case textTooLong(field: String, bytes: Int, limit: Int)

    /// A stable, low-cardinality code for metrics labels and dead-letter headers.
    public var code: String {
        switch self {
        case .notJSON: "not_json"
        case .notAnObject: "not_an_object"
        case .recordTooLarge: "record_too_large"
        case .missingField: "missing_field"
        case .wrongType: "wrong_type"
        case .emptyField: "empty_field"
        case .unknownEventType: "unknown_event_type"
        case .invalidPrice: "invalid_price"
        case .badTimestamp: "bad_timestamp"
        case .textTooLong: "text_too_long"
        }
    }

    public var description: String {
        switch self {
        case .notJSON(let detail): "not JSON: \(detail)"
        case .notAnObject: "not a JSON object"
        case .recordTooLarge(let bytes, let limit): "record is \(bytes) bytes, over the limit of \(limit)"
        case .missingField(let field): "missing field '\(field)'"
        case .wrongType(let field, let expected): "field '\(field)' must be \(expected)"
        case .emptyField(let field): "field '\(field)' must not be empty"
        case .unknownEventType(let value):
            "unknown event_type '\(value)' (expected one of \(EventType.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidPrice(let value): "product.price must be a finite number >= 0, got \(value)"
        case .badTimestamp(let value): "timestamp '\(value)' is not ISO-8601 (e.g. 2024-01-15T10:30:00Z)"
        case .textTooLong(let field, let bytes, let limit): "field '\(field)' is \(bytes) bytes, over the limit of \(limit)"
        }
    }
}

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
    case priceTooHigh(String, limit: Double)
    case badTimestamp(String)
    case timestampOutOfRange(String)
    case tooDeeplyNested(limit: Int)
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
        case .priceTooHigh: "price_too_high"
        case .badTimestamp: "bad_timestamp"
        case .timestampOutOfRange: "timestamp_out_of_range"
        case .tooDeeplyNested: "too_deeply_nested"
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
        case .priceTooHigh(let value, let limit):
            "product.price \(value) is above the limit of \(limit) (pipeline.max_price)"
        case .badTimestamp(let value): "timestamp '\(value)' is not ISO-8601 (e.g. 2024-01-15T10:30:00Z)"
        case .timestampOutOfRange(let value):
            "timestamp '\(value)' is outside the accepted range 1970-01-01T00:00:00Z to 2105-12-31T23:59:59.999Z"
        case .tooDeeplyNested(let limit): "JSON nested deeper than \(limit) levels"
        case .textTooLong(let field, let bytes, let limit): "field '\(field)' is \(bytes) bytes, over the limit of \(limit)"
        }
    }
}

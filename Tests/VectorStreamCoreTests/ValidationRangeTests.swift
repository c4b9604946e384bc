import Testing
import VectorStreamCore

/// What every store can represent is what validation accepts: prices that cannot overflow a revenue sum,
/// timestamps every store keeps exactly, JSON that cannot exhaust a stack.
@Suite("Validation ranges: prices, timestamps, nesting")
struct ValidationRangeTests {
    let parser = EventParser()

    func event(price: String = "10", timestamp: String = "2024-01-15T10:30:00Z", extra: String = "") -> [UInt8] {
        Array(#"{"event_id":"e","timestamp":"\#(timestamp)","user_id":"u","event_type":"purchase","product":{"id":"p","name":"n","description":"d","category":"c","price":\#(price)},"session_id":"s"\#(extra)}"#.utf8)
    }

    func code(_ bytes: [UInt8]) -> String? {
        if case .failure(let e) = parser.parse(bytes) { return e.code }
        return nil
    }

    @Test("a price of 1.797e308 is a dead letter naming the limit; up to pipeline.max_price is accepted")
    func hugePricesAreRejected() throws {
        #expect(code(event(price: "1.797e308")) == "price_too_high")
        #expect(code(event(price: "1000000000.01")) == "price_too_high")
        #expect(code(event(price: "1000000000")) == nil)
        if case .failure(let reason) = parser.parse(event(price: "1.797e308")) {
            #expect(reason.description.contains("pipeline.max_price"))
        }
        let strict = EventParser(limits: ValidationLimits(maxPrice: 100))
        #expect(strict.parse(event(price: "100.5")).isFailure)
        #expect(!strict.parse(event(price: "99.5")).isFailure)
    }

    @Test("timestamps outside 1970-01-01 ... 2105-12-31 are rejected, the edges accepted",
          arguments: [
              ("0000-01-01T00:00:00Z", "timestamp_out_of_range"),
              ("1969-12-31T23:59:59Z", "timestamp_out_of_range"),
              ("9999-12-31T23:59:59Z", "timestamp_out_of_range"),
              ("2106-01-01T00:00:00Z", "timestamp_out_of_range"),
              ("1970-01-01T00:00:00Z", nil),
              ("2105-12-31T23:59:59.999Z", nil),
          ] as [(String, String?)])
    func timestampRange(timestamp: String, expected: String?) {
        #expect(code(event(timestamp: timestamp)) == expected, "\(timestamp)")
    }

    @Test("JSON nested 100,000 levels deep is a dead letter, not a crash; 60 levels are fine")
    func deepNestingIsRejected() {
        let big = EventParser(limits: ValidationLimits(maxRecordBytes: 1 << 20))
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        if case .failure(let e) = big.parse(event(extra: ",\"x\":" + deep)) {
            #expect(e.code == "too_deeply_nested")
        } else {
            Issue.record("accepted")
        }
        let objects = String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        if case .failure(let e) = big.parse(event(extra: ",\"x\":" + objects)) {
            #expect(e.code == "too_deeply_nested")
        } else {
            Issue.record("accepted")
        }
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(code(event(extra: ",\"x\":" + fine)) == nil)
    }
}

extension Result {
    var isFailure: Bool { if case .failure = self { true } else { false } }
}

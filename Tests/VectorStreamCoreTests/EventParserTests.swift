import Testing
import VectorStreamCore
import VectorStreamGenerator

@Suite("Event parsing and validation")
struct EventParserTests {
    let parser = EventParser(limits: ValidationLimits(maxRecordBytes: 16_384, maxTextBytes: 4_096))

    static let valid = #"""
    {"event_id":"e-1","timestamp":"2024-01-15T10:30:00Z","user_id":"user123","event_type":"purchase",
     "product":{"id":"p-9","name":"Trail Shoe","description":"Light.\tFast.","category":"Sports","price":129.99},
     "session_id":"session789","referrer":{"campaign":"x","tags":[1,2,null,true]}}
    """#

    func parse(_ text: String) -> Result<Event, ValidationError> { parser.parse(Array(text.utf8)) }

    func code(_ text: String) -> String? {
        if case .failure(let e) = parse(text) { return e.code }
        return nil
    }

    @Test func parsesTheSourceSchemaAndKeepsUnknownFields() throws {
        let event = try parse(Self.valid).get()
        #expect(event.eventID == "e-1")
        #expect(event.userID == "user123")
        #expect(event.type == .purchase)
        #expect(event.product == Product(id: "p-9", name: "Trail Shoe", description: "Light.\tFast.", category: "Sports",
                                         price: 129.99))
        #expect(event.sessionID == "session789")
        #expect(event.timestamp == 1_705_314_600_000)
    }

    @Test func decodesEscapesAndFullUnicode() throws {
        let text = #"{"event_id":"\u00e9\ud83d\ude00","timestamp":"2024-01-15T10:30:00.250+02:00","user_id":"u","event_type":"view","product":{"id":"p","name":"Çay İçin ş 茶","description":"","category":"c","price":0},"session_id":"s"}"#
        let event = try parse(text).get()
        #expect(event.eventID == "é😀")
        #expect(event.product.name == "Çay İçin ş 茶")
        #expect(event.timestamp == 1_705_307_400_250)
    }

    @Test(arguments: [
        ("not json at all", "not_json"),
        (#"{"event_id": "x""#, "not_json"),
        (#"[1, 2]"#, "not_an_object"),
        (#"{"timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":1},"session_id":"s"}"#, "missing_field"),
        (#"{"event_id":7,"timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":1},"session_id":"s"}"#, "wrong_type"),
        (#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"teleport","product":{"id":"p","name":"n","description":"d","category":"c","price":1},"session_id":"s"}"#, "unknown_event_type"),
        (#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":-1},"session_id":"s"}"#, "invalid_price"),
        (#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":1e999},"session_id":"s"}"#, "invalid_price"),
        (#"{"event_id":"e","timestamp":"2024-02-30T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":1},"session_id":"s"}"#, "bad_timestamp"),
        (#"{"event_id":"","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":1},"session_id":"s"}"#, "empty_field"),
        (#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":"p","session_id":"s"}"#, "wrong_type"),
        (#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","category":"c","price":"1"},"session_id":"s"}"#, "wrong_type"),
        (#"{"event_id":"e"} trailing"#, "not_json"),
    ])
    func rejectsWithAPreciseReason(input: String, expected: String) {
        #expect(code(input) == expected, "\(input)")
    }

    @Test func namesTheMissingField() {
        guard case .failure(let error) = parse(#"{"event_id":"e","timestamp":"2024-01-15T10:30:00Z","user_id":"u","event_type":"view","product":{"id":"p","name":"n","description":"d","price":1},"session_id":"s"}"#)
        else { Issue.record("accepted"); return }
        #expect(error == .missingField("product.category"))
        #expect(error.description.contains("product.category"))
    }

    @Test func enforcesSizeLimits() {
        let long = String(repeating: "a", count: 5_000)
        #expect(code(Self.valid.replacingOccurrences(of: "Light.", with: long)) == "text_too_long")
        #expect(code(String(repeating: " ", count: 20_000)) == "record_too_large")
    }

    @Test func invalidUTF8IsNotJSON() {
        var bytes = Array(Self.valid.utf8)
        let i = bytes.firstIndex(of: UInt8(ascii: "T"))!
        bytes[i] = 0xFF
        guard case .failure(let error) = parser.parse(bytes) else { Issue.record("accepted"); return }
        #expect(error.code == "not_json")
    }

    @Test func everyGeneratedInvalidKindIsRejectedWithItsReason() {
        var config = GeneratorConfiguration(seed: 3, productCount: 50, invalidRatio: 0.5)
        config.startTime = 1_700_000_000_000
        var stream = EventGenerator(configuration: config).makeStream()
        let parser = EventParser()
        var seenKinds = Set<InvalidKind>()
        for _ in 0..<2_000 {
            let record = stream.next()
            switch (record.invalidKind, parser.parse(record.bytes)) {
            case (nil, .success(let event)): #expect(event == record.event)
            case (let kind?, .failure(let error)):
                #expect(error.code == kind.expectedCode, "\(kind): \(error)")
                seenKinds.insert(kind)
            case (let kind, let result): Issue.record("kind \(String(describing: kind)) gave \(result)")
            }
        }
        #expect(seenKinds == Set(InvalidKind.allCases))
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            result += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return result + rest
    }
}

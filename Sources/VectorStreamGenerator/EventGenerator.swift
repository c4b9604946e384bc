import Foundation
import VectorStreamCore

public struct GeneratorConfiguration: Sendable, Hashable {
    /// Same seed, same catalog and same events (with `startTime` fixed).
    public var seed: UInt64 = 42
    /// Products in the catalog. Default 2,000.
    public var productCount = 2_000
    /// Distinct shoppers; default five per product.
    public var userCount: Int?
    /// Share of records made invalid on purpose, each kind of invalidity in turn.
    public var invalidRatio = 0.0
    /// Timestamp of the first event (epoch ms). Default 2026-01-01T00:00:00Z, so output is reproducible.
    public var startTime: EpochMillis = 1_767_225_600_000
    /// Simulated milliseconds between consecutive events.
    public var millisPerEvent: Double = 1
    /// Stamp events with the wall clock instead (live demo), at the cost of reproducibility.
    public var liveTimestamps = false

    public init(seed: UInt64 = 42, productCount: Int = 2_000, userCount: Int? = nil, invalidRatio: Double = 0) {
        self.seed = seed
        self.productCount = productCount
        self.userCount = userCount
        self.invalidRatio = invalidRatio
    }
}

/// One generated line: its bytes (no newline) and the event, or nil where it was made invalid.
public struct GeneratedRecord: Sendable {
    public var bytes: [UInt8]
    public var event: Event?
    /// The reason it was made invalid (what the validator should say), when it was.
    public var invalidKind: InvalidKind?
}

/// The ways `--invalid-ratio` breaks a record: one per rejection reason of the validator.
public enum InvalidKind: String, Sendable, CaseIterable {
    case notJSON = "not_json"
    case notAnObject = "not_an_object"
    case missingField = "missing_field"
    case wrongType = "wrong_type"
    case unknownEventType = "unknown_event_type"
    case negativePrice = "negative_price"
    case nonFinitePrice = "non_finite_price"
    case badTimestamp = "bad_timestamp"
    case textTooLong = "text_too_long"
    case emptyField = "empty_field"

    /// The validator's code for this kind.
    public var expectedCode: String {
        switch self {
        case .negativePrice, .nonFinitePrice: "invalid_price"
        default: rawValue
        }
    }
}

/// A deterministic shop: a catalog, users with sessions, Zipf-popular products, funnel-shaped behaviour.
public struct EventGenerator: Sendable {
    public let configuration: GeneratorConfiguration
    public let catalog: [Product]
    let popularity: ZipfSampler
    /// Products by popularity rank: rank 0 is the most viewed.
    let rankToProduct: [Int]

    public init(configuration: GeneratorConfiguration = GeneratorConfiguration()) {
        self.configuration = configuration
        var random = SeededRandom(seed: configuration.seed)
        let categories = CatalogVocabulary.categories
        var products: [Product] = []
        products.reserveCapacity(configuration.productCount)
        for index in 0..<configuration.productCount {
            let profile = categories[index % categories.count]
            products.append(profile.makeProduct(id: "p-\(String(index + 1))", random: &random))
        }
        catalog = products
        popularity = ZipfSampler(count: max(products.count, 1))
        var ranks = Array(0..<products.count)
        ranks.shuffle(using: &random)
        rankToProduct = ranks
    }

    public func makeStream() -> EventStream { EventStream(generator: self) }

    /// Words a shopper would type for a category: its name and a few of its nouns.
    public static func queryWords(forCategory category: String) -> String? {
        guard let profile = CatalogVocabulary.categories.first(where: { $0.name == category }) else { return nil }
        return "\(profile.name): \(profile.nouns.prefix(3).joined(separator: ", ")) for \(profile.uses[0])"
    }

    public static var categoryNames: [String] { CatalogVocabulary.categories.map(\.name) }
}

/// An endless, deterministic stream of events; `next()` is cheap (no Foundation, no formatting libraries).
public struct EventStream: Sendable {
    let generator: EventGenerator
    var random: SeededRandom
    var sessions: [Session] = []
    var produced: Int64 = 0
    var invalidTurn = 0
    let userCount: Int

    struct Session: Sendable {
        var id: String
        var userID: String
        var remaining: Int
        var viewed: [Int] = []
        var carted: [Int] = []
    }

    init(generator: EventGenerator) {
        self.generator = generator
        random = SeededRandom(seed: generator.configuration.seed ^ 0xA5A5_5A5A_0F0F_F0F0)
        userCount = generator.configuration.userCount ?? max(generator.catalog.count * 5, 1)
    }

    public mutating func next() -> GeneratedRecord {
        let (event, timestampText) = nextEvent()
        produced += 1
        let ratio = generator.configuration.invalidRatio
        if ratio > 0, random.unit() < ratio {
            let kind = InvalidKind.allCases[invalidTurn % InvalidKind.allCases.count]
            invalidTurn += 1
            return GeneratedRecord(bytes: Self.corrupt(event, timestampText, kind), event: nil, invalidKind: kind)
        }
        return GeneratedRecord(bytes: Self.encode(event, timestampText), event: event, invalidKind: nil)
    }

    private mutating func nextEvent() -> (Event, String) {
        // Keep a pool of concurrent sessions; each lives for a handful of events.
        if sessions.count < 64 || random.below(20) == 0 {
            let user = random.below(userCount) + 1
            sessions.append(Session(id: "s-\(random.uuid().prefix(13))", userID: "user-\(user)",
                                    remaining: 3 + random.below(12)))
        }
        let slot = random.below(sessions.count)
        var session = sessions[slot]
        let (type, productIndex) = nextAction(&session)
        session.remaining -= 1
        if session.remaining <= 0 { sessions.swapAt(slot, sessions.count - 1); sessions.removeLast() } else { sessions[slot] = session }

        let timestamp: EpochMillis = generator.configuration.liveTimestamps
            ? wallClockMillis()
            : generator.configuration.startTime + EpochMillis(Double(produced) * generator.configuration.millisPerEvent)
        let event = Event(eventID: random.uuid(), timestamp: timestamp, userID: session.userID, type: type,
                          product: generator.catalog[productIndex], sessionID: session.id)
        return (event, ISO8601.format(timestamp))
    }

    /// Funnel: mostly views; carts follow views, purchases follow carts.
    private mutating func nextAction(_ s: inout Session) -> (EventType, Int) {
        let roll = random.unit()
        if !s.carted.isEmpty && roll < 0.12 {
            let product = s.carted.remove(at: random.below(s.carted.count))
            return (random.unit() < 0.8 ? .purchase : .removeFromCart, product)
        }
        if !s.viewed.isEmpty && roll < 0.30 {
            let product = random.pick(s.viewed)
            if random.unit() < 0.75 { s.carted.append(product); return (.addToCart, product) }
            return (.wishlistAdd, product)
        }
        let product = generator.rankToProduct[generator.popularity.sample(&random)]
        if roll > 0.93 { return (.search, product) }
        s.viewed.append(product)
        return (.view, product)
    }

    // MARK: JSON

    static func encode(_ e: Event, _ timestamp: String) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(320 + e.product.description.utf8.count)
        out += #"{"event_id":"#.utf8; appendString(&out, e.eventID)
        out += #","timestamp":"#.utf8; appendString(&out, timestamp)
        out += #","user_id":"#.utf8; appendString(&out, e.userID)
        out += #","event_type":"#.utf8; appendString(&out, e.type.rawValue)
        out += #","product":{"id":"#.utf8; appendString(&out, e.product.id)
        out += #","name":"#.utf8; appendString(&out, e.product.name)
        out += #","description":"#.utf8; appendString(&out, e.product.description)
        out += #","category":"#.utf8; appendString(&out, e.product.category)
        out += #","price":"#.utf8; out += formatPrice(e.product.price).utf8
        out += #"},"session_id":"#.utf8; appendString(&out, e.sessionID)
        out += "}".utf8
        return out
    }

    static func formatPrice(_ price: Double) -> String {
        let cents = Int64((price * 100).rounded())
        let frac = cents % 100
        return "\(cents / 100).\(frac < 10 ? "0" : "")\(frac)"
    }

    static func appendString(_ out: inout [UInt8], _ s: String) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += #"\""#.utf8
            case UInt8(ascii: "\\"): out += #"\\"#.utf8
            case 0x0A: out += #"\n"#.utf8
            case 0x0D: out += #"\r"#.utf8
            case 0x09: out += #"\t"#.utf8
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += #"\u00"#.utf8
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func corrupt(_ e: Event, _ timestamp: String, _ kind: InvalidKind) -> [UInt8] {
        let good = encode(e, timestamp)
        func replacing(_ target: String, _ replacement: String) -> [UInt8] {
            let text = String(decoding: good, as: UTF8.self)
            guard let r = text.range(of: target) else { return good }
            return Array(text.replacingCharacters(in: r, with: replacement).utf8)
        }
        switch kind {
        case .notJSON: return Array(good.prefix(good.count / 2))
        case .notAnObject: return Array("[\"\(e.eventID)\"]".utf8)
        case .missingField: return replacing("\"user_id\":", "\"user\":")
        case .wrongType: return replacing("\"price\":\(formatPrice(e.product.price))", "\"price\":\"\(formatPrice(e.product.price))\"")
        case .unknownEventType: return replacing("\"event_type\":\"\(e.type.rawValue)\"", "\"event_type\":\"teleport\"")
        case .negativePrice: return replacing("\"price\":\(formatPrice(e.product.price))", "\"price\":-\(formatPrice(e.product.price))")
        case .nonFinitePrice: return replacing("\"price\":\(formatPrice(e.product.price))", "\"price\":1e999")
        case .badTimestamp: return replacing(timestamp, "yesterday at noon")
        case .textTooLong:
            return replacing("\"description\":\"", "\"description\":\"" + String(repeating: "very long text ", count: 700))
        case .emptyField: return replacing("\"event_id\":\"\(e.eventID)\"", "\"event_id\":\"\"")
        }
    }
}

/// Paces output at a rate with a token bucket: bursts up to `burst`, no sleep per event.
public struct TokenBucket: Sendable {
    public let ratePerSecond: Double
    public let burst: Double
    private var tokens: Double
    private var last: UInt64

    public init(ratePerSecond: Double, burst: Double? = nil, now: UInt64 = monotonicNanos()) {
        self.ratePerSecond = ratePerSecond
        self.burst = burst ?? max(ratePerSecond / 10, 1)
        tokens = self.burst
        last = now
    }

    /// Takes up to `wanted` tokens; returns how many were granted and, when none, how long to wait (ns).
    public mutating func take(_ wanted: Int, now: UInt64 = monotonicNanos()) -> (granted: Int, waitNanos: UInt64) {
        tokens = min(burst, tokens + Double(now &- last) / 1e9 * ratePerSecond)
        last = now
        let granted = min(wanted, Int(tokens))
        tokens -= Double(granted)
        if granted > 0 { return (granted, 0) }
        return (0, UInt64((1 - tokens) / ratePerSecond * 1e9))
    }
}

extension TokenBucket {
    /// Waits until at least one token is free and takes up to `wanted`; returns how many were granted.
    public mutating func acquire(_ wanted: Int) async throws -> Int {
        while true {
            let (granted, wait) = take(wanted)
            if granted > 0 { return granted }
            try await Task.sleep(for: .nanoseconds(Int64(wait)))
        }
    }
}

/// Optional pacing: without a rate every request is granted at once.
public struct Pacer: Sendable {
    private var bucket: TokenBucket?

    public init(ratePerSecond: Double?) { bucket = ratePerSecond.map { TokenBucket(ratePerSecond: $0) } }

    public mutating func acquire(_ wanted: Int) async throws -> Int {
        guard var b = bucket else { return wanted }
        defer { bucket = b }
        return try await b.acquire(wanted)
    }
}


/// What an `Idempotency-Key` holds when a request asks for it. Three cases, as with dedup claims: "another request
/// is working on it" is neither "yours to do" nor "done".
public enum IdempotencyClaim: Sendable, Hashable {
    /// This caller holds the key now: do the work, then `complete` it with the answer (or `abandon` it on failure).
    case won
    /// The work was done: the first answer, to be returned as it is, and the fingerprint of the request it answered.
    case completed(answer: [UInt8], fingerprint: String)
    /// Another request with this key is in flight (its lease has not run out).
    case inFlight(fingerprint: String)
}

/// Remembers the answer of each request made with an `Idempotency-Key`, so that a retried request returns the
/// first answer instead of doing the work again. Shared by every server through Redis when configured.
///
/// Two phases, like dedup claims: `begin` takes a lease on the key (renewed while the work runs; a crashed server's
/// lease runs out, so the key is blocked for one lease at most), `complete` stores the answer for the answer TTL,
/// `abandon` gives the key back when the work failed (the retry then does it). The store keeps answers, not work: the events themselves are deduplicated by
/// the dedup stage whatever happens to a key.
public protocol IdempotencyStore: Sendable {
    /// Claims `key` for `lease` when it is free; otherwise says who has it. `fingerprint` identifies the request
    /// body, so that a key reused for another body is told apart.
    func begin(_ key: String, fingerprint: String, lease: Duration) async throws -> IdempotencyClaim
    /// Stores the answer of the work done under `key` for `ttl`.
    func complete(_ key: String, fingerprint: String, answer: [UInt8], ttl: Duration) async throws
    /// Releases a key whose work failed, if this store still holds it in flight.
    func abandon(_ key: String, fingerprint: String) async throws
    /// Extends the lease of a key this store holds in flight, so that work slower than one lease keeps its key while
    /// a crashed server's key frees within one lease.
    func renew(_ key: String, fingerprint: String, lease: Duration) async throws -> LeaseRenewal
}

/// What renewing an in-flight key found. `lost` is not "renewed": the lease ran out (this server stalled longer than
/// a lease) or the key was taken or completed meanwhile, and a duplicate may now be processed beside this request
/// (its events are still deduplicated by id).
public enum LeaseRenewal: Sendable, Hashable {
    case renewed
    case lost
}

/// How an idempotency entry is written as one value (Redis and any other byte store): a tag, the fingerprint,
/// a newline, and for a completed entry the answer.
public enum IdempotencyRecord {
    static let inFlightTag = "inflight:"
    static let doneTag = "done:"

    public static func inFlight(fingerprint: String, token: String) -> [UInt8] {
        Array((inFlightTag + fingerprint + ":" + token + "\n").utf8)
    }

    public static func done(fingerprint: String, answer: [UInt8]) -> [UInt8] {
        Array((doneTag + fingerprint + "\n").utf8) + answer
    }

    /// The claim a stored value stands for; nil when the value is not one this type wrote.
    public static func claim(from value: [UInt8]) -> IdempotencyClaim? {
        guard let newline = value.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let head = String(decoding: value[..<newline], as: UTF8.self)
        if head.hasPrefix(doneTag) {
            return .completed(answer: Array(value[(newline + 1)...]), fingerprint: String(head.dropFirst(doneTag.count)))
        }
        if head.hasPrefix(inFlightTag) {
            let rest = head.dropFirst(inFlightTag.count)
            return .inFlight(fingerprint: String(rest.split(separator: ":", maxSplits: 1).first ?? ""))
        }
        return nil
    }
}

import Foundation
import RedisClient
import Testing
import VectorStreamCore
import VectorStreamRedis

/// `POST /v1/ingest`'s idempotency keys in Redis, shared by servers: two store instances stand for two servers.
@Suite("Redis idempotency store")
struct RedisIdempotencyStoreTests {
    @Test func keysAreSharedAcrossServersWithLeasesAndAnswers() async throws {
        let client = RedisClient(configuration: try RedisTestServer.clientConfiguration())
        defer { Task { await client.close() } }
        let prefix = RedisTestServer.uniquePrefix()
        let a = RedisIdempotencyStore(client: client, keyPrefix: prefix)
        let b = RedisIdempotencyStore(client: client, keyPrefix: prefix)
        let answer = Array(#"{"stored": 3}"#.utf8) + [0, 255, 10]  // binary-safe, newline included

        #expect(try await a.begin("q:1:0:0", fingerprint: "f1", lease: .seconds(30)) == .won)
        // The other server sees it in flight, with the body's fingerprint.
        #expect(try await b.begin("q:1:0:0", fingerprint: "f1", lease: .seconds(30)) == .inFlight(fingerprint: "f1"))
        // Only the holder gives a key back.
        try await b.abandon("q:1:0:0", fingerprint: "f1")
        #expect(try await b.begin("q:1:0:0", fingerprint: "f1", lease: .seconds(30)) == .inFlight(fingerprint: "f1"))
        try await a.complete("q:1:0:0", fingerprint: "f1", answer: answer, ttl: .seconds(60))
        #expect(try await b.begin("q:1:0:0", fingerprint: "f1", lease: .seconds(30)) == .completed(answer: answer, fingerprint: "f1"))

        // A failed request's key is free again for its retry.
        #expect(try await a.begin("q:2:0:0", fingerprint: "f2", lease: .seconds(30)) == .won)
        try await a.abandon("q:2:0:0", fingerprint: "f2")
        #expect(try await b.begin("q:2:0:0", fingerprint: "f2", lease: .seconds(30)) == .won)

        // A crashed server's lease runs out.
        #expect(try await a.begin("q:3:0:0", fingerprint: "f3", lease: .milliseconds(200)) == .won)
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await b.begin("q:3:0:0", fingerprint: "f3", lease: .seconds(30)) == .won)

        // The holder renews its lease; another server cannot, and a key that ran out or is done is lost. (No timing
        // between renewals: a renewal past the short first lease would depend on the machine's load.)
        #expect(try await a.begin("q:4:0:0", fingerprint: "f4", lease: .seconds(2)) == .won)
        #expect(try await a.renew("q:4:0:0", fingerprint: "f4", lease: .seconds(30)) == .renewed)
        #expect(try await b.renew("q:4:0:0", fingerprint: "f4", lease: .seconds(30)) == .lost)
        try await Task.sleep(for: .milliseconds(2_500))  // past the first lease: held only because it was renewed
        #expect(try await b.begin("q:4:0:0", fingerprint: "f4", lease: .seconds(30)) == .inFlight(fingerprint: "f4"))
        try await a.complete("q:4:0:0", fingerprint: "f4", answer: answer, ttl: .seconds(60))
        #expect(try await a.renew("q:4:0:0", fingerprint: "f4", lease: .seconds(30)) == .lost)
        #expect(try await a.begin("q:5:0:0", fingerprint: "f5", lease: .milliseconds(200)) == .won)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await a.renew("q:5:0:0", fingerprint: "f5", lease: .seconds(30)) == .lost)
        #expect(try await b.begin("q:5:0:0", fingerprint: "f5", lease: .seconds(30)) == .won)

        // Answers expire with their TTL.
        try await b.complete("q:3:0:0", fingerprint: "f3", answer: answer, ttl: .milliseconds(200))
        try await Task.sleep(for: .milliseconds(400))
        #expect(try await a.begin("q:3:0:0", fingerprint: "f3", lease: .seconds(30)) == .won)
    }
}

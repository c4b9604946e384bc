import Foundation
import Hummingbird
import Logging
import VectorStreamCore

/// What `POST /v1/ingest` runs on: the ingest lanes over the pipeline's stages, and where idempotency keys live
/// (in memory, or Redis when configured).
public struct IngestService: Sendable {
    public let pipeline: IngestPipeline
    public let idempotency: any IdempotencyStore

    public init(pipeline: IngestPipeline, idempotency: any IdempotencyStore) {
        self.pipeline = pipeline
        self.idempotency = idempotency
    }

    var settings: IngestSettings { pipeline.settings }
}

/// `POST /v1/ingest`: a batch of raw events (a JSON array, or JSON lines) through validate → dead letters → dedup →
/// embed → upsert → store → notify; the answer (200, with the counts) comes only once everything is stored.
///
/// - `Idempotency-Key`: the first answer is kept for `ingest.idempotency_ttl` and a retry gets it again, unprocessed
///   (header `Idempotent-Replayed: true`). A duplicate that arrives while the first is still in flight is answered
///   409 with `Retry-After` (not held: a client that timed out should not stack up waiting requests); the same key
///   with another body is 409 too, `idempotency_key_reused`.
/// - Saturation: at most `ingest.max_concurrent` requests are processed at once; one more is 429 with `Retry-After`.
/// - Limits: 413 naming `ingest.max_body_bytes` or `ingest.max_records`; a body that holds no records is 400.
/// - A batch the stages cannot store (a store down) is 503 with `Retry-After`; nothing is acknowledged, the key is
///   given back, and the retry redoes only what is missing (events are deduplicated by id).
struct IngestHandlers: Sendable {
    let service: IngestService
    let logger: Logger

    static let contentTypes: Set<String> = ["application/json", "application/x-ndjson", "application/jsonl"]

    func handle(_ request: Request) async throws -> Response {
        let settings = service.settings
        let type = request.headers[.contentType].map {
            $0.split(separator: ";", maxSplits: 1).first.map(String.init)?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        }
        guard let type, Self.contentTypes.contains(type) else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type",
                           "send application/json (an array of events, or one event per line) or application/x-ndjson "
                           + "(got \(request.headers[.contentType].map { "'\($0)'" } ?? "none"))")
        }
        let key = try Self.idempotencyKey(request.headers)
        if let length = request.headers[.contentLength], let n = UInt64(length.trimmingCharacters(in: .whitespaces)),
           n > UInt64(settings.maxBodyBytes) {
            throw Self.bodyTooLarge("\(n) bytes", settings)
        }
        guard let lane = service.pipeline.admit() else {
            throw APIError(.tooManyRequests, "too_many_requests",
                           "\(settings.maxConcurrent) ingest requests are in flight, the most this server takes at once "
                           + "(ingest.max_concurrent); retry after 1 s", headers: [.retryAfter: "1"])
        }
        var laneTaken = false
        defer { if !laneTaken { lane.finish() } }
        let arrival = monotonicNanos()
        var request = request
        let body: [UInt8]
        do {
            body = Array(buffer: try await request.collectBody(upTo: settings.maxBodyBytes))
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Self.bodyTooLarge("over \(settings.maxBodyBytes) bytes", settings)
        }
        // As application/json the body is one JSON text: an array of records, or an object (one record, or the first of
        // JSON lines). A bare number, string or null is refused here rather than kept as a dead letter.
        if type == "application/json", let first = body.first(where: { !IngestBody.isBlank($0) }),
           first != UInt8(ascii: "["), first != UInt8(ascii: "{") {
            throw APIError(.badRequest, "bad_request",
                           "an application/json body must be an array of events or event objects (one per line)")
        }
        let records: [ArraySlice<UInt8>]
        switch IngestBody.records(body, jsonLines: type != "application/json") {
        case .success(let r): records = r
        case .failure(let error): throw APIError(.badRequest, "bad_request", error.description)
        }
        guard records.count <= settings.maxRecords else {
            throw APIError(.contentTooLarge, "too_many_records",
                           "the body holds \(records.count) records; the limit is \(settings.maxRecords) (ingest.max_records)")
        }
        let fingerprint = ContentHash.sha256Hex(body)
        if let key {
            let claim: IdempotencyClaim
            do {
                claim = try await service.idempotency.begin(key, fingerprint: fingerprint, lease: settings.idempotencyLease)
            } catch {
                logger.warning("idempotency store unavailable", metadata: ["error": "\(Self.masked(error))"])
                throw APIError(.serviceUnavailable, "dependency_unavailable",
                               "the idempotency store did not answer; retry later", headers: [.retryAfter: "5"])
            }
            // 409 as well (not 422): the key conflicts with an earlier request; `error` tells the two conflicts apart.
            let reused = APIError(.conflict, "idempotency_key_reused",
                                  "Idempotency-Key '\(key)' was used for another body; use a new key for new records")
            switch claim {
            case .won: break
            case .completed(let answer, let first):
                guard first == fingerprint else { throw reused }
                return JSON.bytesResponse(answer, headers: [.init("Idempotent-Replayed")!: "true"])
            case .inFlight(let first):
                guard first == fingerprint else { throw reused }
                throw APIError(.conflict, "request_in_flight",
                               "a request with Idempotency-Key '\(key)' is still being processed; retry after 1 s to get its answer",
                               headers: [.retryAfter: "1"])
            }
        }
        laneTaken = true
        let outcome: IngestOutcome
        do {
            outcome = try await holding(key, fingerprint: fingerprint, lease: settings.idempotencyLease) {
                try await lane.ingest(records, requestKey: key ?? "request-\(UInt64.random(in: 0...UInt64.max))",
                                      arrivalNanos: arrival)
            }
        } catch {
            if let key { try? await service.idempotency.abandon(key, fingerprint: fingerprint) }
            logger.warning("ingest failed; nothing acknowledged", metadata: ["error": "\(Self.masked(error))",
                                                                             "records": "\(records.count)"])
            throw APIError(.serviceUnavailable, "ingest_failed",
                           "the records could not be stored (\(Self.masked(error))); nothing of them is acknowledged, "
                           + "retry the request (with the same Idempotency-Key)", headers: [.retryAfter: "5"])
        }
        guard case .stored(let report) = outcome else {
            if let key { try? await service.idempotency.abandon(key, fingerprint: fingerprint) }
            throw APIError(.serviceUnavailable, "shutting_down", "the server is stopping; retry the request elsewhere or later",
                           headers: [.retryAfter: "5"])
        }
        let answer = try JSON.encode(Self.object(report, key: key))
        if let key {
            do {
                try await service.idempotency.complete(key, fingerprint: fingerprint, answer: answer, ttl: settings.idempotencyTTL)
            } catch {
                // Stored all the same: a retry is processed again and finds every event deduplicated.
                logger.warning("ingest answer not kept for its idempotency key", metadata: ["error": "\(Self.masked(error))"])
            }
        }
        return JSON.bytesResponse(answer)
    }

    /// Runs `work` while renewing `key`'s lease every third of it: a request slower than the lease keeps its key (a
    /// duplicate is answered 409, not processed beside it), and a crashed server's key frees within one lease.
    func holding<T: Sendable>(_ key: String?, fingerprint: String, lease: Duration,
                              _ work: () async throws -> T) async throws -> T {
        guard let key else { return try await work() }
        let store = service.idempotency
        let logger = logger
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    do { try await Task.sleep(for: lease / 3) } catch { return }  // cancelled: the work is done
                    do {
                        if try await store.renew(key, fingerprint: fingerprint, lease: lease) == .lost {
                            logger.warning("an ingest request outlived its Idempotency-Key's lease; a duplicate may be processed beside it (its events are deduplicated)",
                                           metadata: ["key": "\(key)"])
                            return
                        }
                    } catch is CancellationError {
                        return
                    } catch {
                        logger.warning("idempotency lease not renewed", metadata: ["error": "\(Self.masked(error))"])
                    }
                }
            }
            defer { group.cancelAll() }
            return try await work()
        }
    }

    static func bodyTooLarge(_ size: String, _ settings: IngestSettings) -> APIError {
        APIError(.contentTooLarge, "body_too_large",
                 "the body is \(size); the limit is \(settings.maxBodyBytes) bytes (ingest.max_body_bytes): send fewer records per request",
                 headers: [.connection: "close"])
    }

    /// The key, when sent: 1 to 255 visible ASCII characters.
    static func idempotencyKey(_ headers: HTTPFields) throws -> String? {
        guard let key = headers[.init("Idempotency-Key")!] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw APIError(.badRequest, "bad_request",
                           "Idempotency-Key must be 1 to 255 visible ASCII characters (got \(key.utf8.count) bytes)")
        }
        return key
    }

    static func masked(_ error: any Error) -> String {
        VectorStreamConfiguration.maskURLs(in: "\(error)")
    }

    static func object(_ report: IngestReport, key: String?) -> [String: Any] {
        [
            "received": report.received, "accepted": report.accepted, "rejected": report.rejected,
            "rejected_by_reason": report.rejectedByReason,
            "rejections": report.rejections.map { ["index": $0.index, "code": $0.code, "reason": $0.reason] as [String: Any] },
            "deduplicated": report.deduplicated, "stored": report.stored, "products_embedded": report.productsEmbedded,
            "embedding_cache_hits": report.embeddingCacheHits, "idempotency_key": key ?? NSNull(),
        ]
    }

    /// The route's part of the OpenAPI document, merged in when the server ingests.
    static let openAPI = #"""
{
 "paths": {
  "/v1/ingest": {
   "post": {
    "summary": "Ingest a batch of raw events through the pipeline's stages; answers once everything is stored",
    "operationId": "ingest",
    "description": "A JSON array of events, or one event per line. Invalid events go to the dead letters with their reason (counted in the answer); valid ones are deduplicated by event id, embedded, upserted and stored. With Idempotency-Key a retry returns the first answer unprocessed (Idempotent-Replayed: true); a duplicate while the first is in flight is 409 (request_in_flight), the key with another body 409 (idempotency_key_reused). 429 when ingest.max_concurrent requests are in flight, 413 over ingest.max_body_bytes or ingest.max_records.",
    "security": [{"bearer": []}, {"apiKey": []}],
    "parameters": [
     {
      "name": "Idempotency-Key",
      "in": "header",
      "required": false,
      "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
      "description": "makes a retried request return the first answer; e.g. {query_id}:{batch_id}:{partition}:{chunk}"
     }
    ],
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {"schema": {"oneOf": [{"type": "array", "minItems": 1, "description": "records; any that is not a valid event becomes a dead letter"}, {"type": "object", "description": "one record (or JSON lines: one object per line)"}]}},
      "application/x-ndjson": {"schema": {"type": "string", "pattern": "\\S", "description": "one record per line"}}
     }
    },
    "responses": {
     "200": {"description": "every record stored or in the dead letters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestResult"}}}},
     "400": {"$ref": "#/components/responses/Error"},
     "401": {"$ref": "#/components/responses/Error"},
     "409": {"$ref": "#/components/responses/Error"},
     "413": {"$ref": "#/components/responses/Error"},
     "415": {"$ref": "#/components/responses/Error"},
     "429": {"$ref": "#/components/responses/Error"},
     "500": {"$ref": "#/components/responses/InternalError"},
     "503": {"$ref": "#/components/responses/Unavailable"}
    }
   }
  }
 },
 "schemas": {
  "IngestResult": {
   "type": "object",
   "required": ["received", "accepted", "rejected", "rejected_by_reason", "rejections", "deduplicated", "stored", "products_embedded", "embedding_cache_hits", "idempotency_key"],
   "properties": {
    "received": {"type": "integer", "minimum": 0},
    "accepted": {"type": "integer", "minimum": 0},
    "rejected": {"type": "integer", "minimum": 0},
    "rejected_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
    "rejections": {"type": "array", "description": "the first 100 rejections", "items": {"type": "object", "required": ["index", "code", "reason"], "properties": {"index": {"type": "integer"}, "code": {"type": "string"}, "reason": {"type": "string"}}}},
    "deduplicated": {"type": "integer", "minimum": 0},
    "stored": {"type": "integer", "minimum": 0},
    "products_embedded": {"type": "integer", "minimum": 0},
    "embedding_cache_hits": {"type": "integer", "minimum": 0},
    "idempotency_key": {"type": "string", "nullable": true}
   }
  }
 }
}
"""#
}

import Foundation
import RedisClient
import VectorStreamCore

/// File records in Redis, shared by every worker (the store whenever `redis.url` is set).
///
/// Per file a hash `<prefix>files:rec:<sha256>`: the record as JSON plus the claim's fields (`status`, `holder`,
/// `lease_until`, `attempts`, `started_at`), which are the authority and are laid over the JSON when read. Claims,
/// renewals, saves and retries are Lua scripts, so each is atomic: two workers never both win a file. A lex-ordered
/// sorted set `<prefix>files:index` lists files newest first; the set `<prefix>files:open` holds the queued and
/// processing ones (what a starting worker looks at).
public final class RedisFileMetadataStore: FileMetadataStore {
    public let client: RedisClient
    public let keyPrefix: String

    public init(client: RedisClient, keyPrefix: String = "vectorstream:") {
        self.client = client
        self.keyPrefix = keyPrefix
    }

    public var backendName: String { "redis" }

    var indexKey: String { keyPrefix + "files:index" }
    var openKey: String { keyPrefix + "files:open" }
    /// Files whose processing failed (until retried): the status counts tell them apart from done ones.
    var failedKey: String { keyPrefix + "files:failed" }
    func recordKey(_ sha256: String) -> String { keyPrefix + "files:rec:" + sha256 }

    /// Newest first in lexicographic order (as the embedded store lists: upload time, then hash, both descending):
    /// the upload time subtracted from a constant, zero-padded, then the hash with each hex digit inverted.
    static func indexMember(uploadedAt: EpochMillis, sha256: String) -> String {
        let inverted = String(max(0, 9_999_999_999_999_999 - uploadedAt))
        return String(repeating: "0", count: max(0, 16 - inverted.count)) + inverted + ":" + invertHex(sha256)
    }

    /// 0↔f, 1↔e, ...: reverses the order of hex strings (its own inverse).
    static func invertHex(_ hex: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: hex.utf8.map { c in digits.firstIndex(of: c).map { digits[15 - $0] } ?? c }, as: UTF8.self)
    }

    private static func encode(_ record: FileRecord) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    /// A record from `HGETALL`'s answer, the claim's fields laid over the JSON; nil when the hash is empty.
    static func decode(_ reply: RESPValue) throws -> FileRecord? {
        var fields: [String: String] = [:]
        if let pairs = reply.pairs {
            for (k, v) in pairs { if let k = k.string, let v = v.string { fields[k] = v } }
        } else if let items = reply.array {
            var i = 0
            while i + 1 < items.count {
                if let k = items[i].string, let v = items[i + 1].string { fields[k] = v }
                i += 2
            }
        }
        guard let json = fields["json"] else { return nil }
        var record = try JSONDecoder().decode(FileRecord.self, from: Data(json.utf8))
        if let s = fields["status"].flatMap(FileStatus.init(rawValue:)) { record.status = s }
        record.holder = fields["holder"].flatMap { $0.isEmpty ? nil : $0 }
        record.leaseUntil = fields["lease_until"].flatMap { EpochMillis($0) }
        if let a = fields["attempts"].flatMap({ Int($0) }) { record.attempts = a }
        if let t = fields["started_at"].flatMap({ EpochMillis($0) }) { record.startedAt = t }
        return record
    }

    public func register(_ record: FileRecord) async throws -> FileRegistration {
        let reply = try await client.eval(Self.registerScript,
                                          keys: [.string(recordKey(record.sha256)), .string(indexKey), .string(openKey)],
                                          arguments: [.string(try Self.encode(record)), .string(record.status.rawValue),
                                                      .string(Self.indexMember(uploadedAt: record.uploadedAt, sha256: record.sha256)),
                                                      .string(record.sha256)])
        if case .error(let error) = reply { throw error }
        if reply.int == 1 { return .created(record) }
        guard let existing = try await self.record(sha256: record.sha256) else {
            throw RedisClientError.unexpectedReply(command: "register", reply: "exists but unreadable")
        }
        return .existing(existing)
    }

    public func record(sha256: String) async throws -> FileRecord? {
        let reply = try await client.send("HGETALL", .string(recordKey(sha256)))
        if case .error(let error) = reply { throw error }
        return try Self.decode(reply)
    }

    public func list(limit: Int, after cursor: FileCursor?) async throws -> FilePage {
        let start = cursor.map { "(" + Self.indexMember(uploadedAt: $0.uploadedAt, sha256: $0.sha256) } ?? "-"
        let reply = try await client.send("ZRANGEBYLEX", .string(indexKey), .string(start), "+", "LIMIT", 0, .integer(Int64(limit + 1)))
        if case .error(let error) = reply { throw error }
        let members = (reply.array ?? []).compactMap(\.string)
        var records: [FileRecord] = []
        for member in members.prefix(limit) {
            guard let colon = member.firstIndex(of: ":") else { continue }
            let sha256 = Self.invertHex(String(member[member.index(after: colon)...]))
            if let record = try await record(sha256: sha256) { records.append(record) }
        }
        return FilePage(records: records, next: members.count > limit ? records.last.map { FileCursor($0).text } : nil)
    }

    public func claim(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> FileClaimOutcome {
        let reply = try await client.eval(Self.claimScript, keys: [.string(recordKey(sha256))],
                                          arguments: [.string(holder), .integer(now), .integer(lease.wholeMilliseconds)])
        if case .error(let error) = reply { throw error }
        guard let code = reply.int else { throw RedisClientError.unexpectedReply(command: "file claim", reply: "\(reply)") }
        guard let record = try await record(sha256: sha256) else { return .notFound }
        switch code {
        case -1: return .notFound
        case 1: return .won(record)
        case 2: return .done(record)
        case 3: return .failed(record)
        default: return .heldElsewhere(record)
        }
    }

    public func renew(sha256: String, holder: String, lease: Duration, now: EpochMillis) async throws -> Bool {
        let reply = try await client.eval(Self.renewScript, keys: [.string(recordKey(sha256))],
                                          arguments: [.string(holder), .integer(now + lease.wholeMilliseconds)])
        if case .error(let error) = reply { throw error }
        return reply.int == 1
    }

    public func save(_ record: FileRecord, holder: String) async throws -> Bool {
        var next = record
        next.holder = holder
        let reply = try await client.eval(Self.saveScript, keys: [.string(recordKey(record.sha256)), .string(openKey), .string(failedKey)],
                                          arguments: [.string(holder), .string(try Self.encode(next)), .string(next.status.rawValue),
                                                      .string(next.leaseUntil.map(String.init) ?? ""), .integer(Int64(next.attempts)),
                                                      .string(record.sha256)])
        if case .error(let error) = reply { throw error }
        return reply.int == 1
    }

    public func requeue(sha256: String) async throws -> FileRequeueOutcome {
        let reply = try await client.eval(Self.requeueScript, keys: [.string(recordKey(sha256)), .string(openKey), .string(failedKey)],
                                          arguments: [.string(sha256)])
        if case .error(let error) = reply { throw error }
        guard let record = try await record(sha256: sha256) else { return .notFound }
        return reply.int == 1 ? .requeued(record) : .notFailed(record)
    }

    public func unfinished(now: EpochMillis, limit: Int) async throws -> [FileRecord] {
        let reply = try await client.send("SMEMBERS", .string(openKey))
        if case .error(let error) = reply { throw error }
        var result: [FileRecord] = []
        for sha in (reply.array ?? []).compactMap(\.string) {
            guard let r = try await record(sha256: sha) else { continue }
            if r.status == .queued || (r.status == .processing && (r.leaseUntil ?? 0) <= now) { result.append(r) }
        }
        return Array(result.sorted { ($0.uploadedAt, $0.sha256) < ($1.uploadedAt, $1.sha256) }.prefix(limit))
    }

    public func statusCounts() async throws -> [FileStatus: Int] {
        let total = try await client.send("ZCARD", .string(indexKey)).int ?? 0
        var counts: [FileStatus: Int] = [:]
        for sha in (try await client.send("SMEMBERS", .string(openKey)).array ?? []).compactMap(\.string) {
            if let r = try await record(sha256: sha) { counts[r.status, default: 0] += 1 }
        }
        let failed = Int(try await client.send("SCARD", .string(failedKey)).int ?? 0)
        if failed > 0 { counts[.failed] = failed }
        // The rest is done: closed and not failed.
        let done = Int(total) - counts.values.reduce(0, +)
        if done > 0 { counts[.done] = done }
        return counts
    }

    // 1 = created, 0 = exists.
    static let registerScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'json', ARGV[1], 'status', ARGV[2], 'holder', '', 'lease_until', '', 'attempts', '0')
        redis.call('ZADD', KEYS[2], 0, ARGV[3])
        redis.call('SADD', KEYS[3], ARGV[4])
        return 1
        """

    // The FileClaimRule: -1 absent, 1 won, 2 done, 3 failed, 0 held by another live lease.
    static let claimScript = """
        local f = redis.call('HMGET', KEYS[1], 'status', 'holder', 'lease_until', 'attempts')
        local status, holder, lease, attempts = f[1], f[2], tonumber(f[3]) or 0, tonumber(f[4]) or 0
        if not status then return -1 end
        if status == 'done' then return 2 end
        if status == 'failed' then return 3 end
        local now = tonumber(ARGV[2])
        if status == 'processing' and holder ~= ARGV[1] and lease > now then return 0 end
        if status ~= 'processing' or holder ~= ARGV[1] then attempts = attempts + 1 end
        redis.call('HSET', KEYS[1], 'status', 'processing', 'holder', ARGV[1], 'lease_until', tostring(now + tonumber(ARGV[3])),
                   'attempts', tostring(attempts), 'started_at', tostring(now))
        return 1
        """

    static let renewScript = """
        local f = redis.call('HMGET', KEYS[1], 'status', 'holder')
        if f[1] ~= 'processing' or f[2] ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
        return 1
        """

    static let saveScript = """
        local f = redis.call('HMGET', KEYS[1], 'status', 'holder')
        if f[1] ~= 'processing' or f[2] ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'json', ARGV[2], 'status', ARGV[3], 'holder', ARGV[1], 'lease_until', ARGV[4], 'attempts', ARGV[5])
        if ARGV[3] == 'done' or ARGV[3] == 'failed' then redis.call('SREM', KEYS[2], ARGV[6]) end
        if ARGV[3] == 'failed' then redis.call('SADD', KEYS[3], ARGV[6]) else redis.call('SREM', KEYS[3], ARGV[6]) end
        return 1
        """

    // 1 requeued, 0 not failed, -1 absent.
    static let requeueScript = """
        local status = redis.call('HGET', KEYS[1], 'status')
        if not status then return -1 end
        if status ~= 'failed' then return 0 end
        redis.call('HSET', KEYS[1], 'status', 'queued', 'holder', '', 'lease_until', '')
        redis.call('SADD', KEYS[2], ARGV[1])
        redis.call('SREM', KEYS[3], ARGV[1])
        return 1
        """
}

import NIOCore
import VectorStreamCore

/// The session funnel as segments of each (step, session)'s history, so that "distinct sessions with a step
/// since T" is a plain filtered sum: no FINAL, no hash set of sessions, whatever merges have happened.
///
/// A (step, session) whose latest event so far is at L has segments `(−∞, a], (a, b], …, (x, L]` (as rows of
/// `funnel_segments`); exactly one of them holds T when T <= L and none when T > L, so the funnel since T is
/// the number of segments with `prev_ms < T <= last_ms`. A batch that moves L to a later L' writes the segment
/// `(prev, L']` and a cancelling row for `(prev, L]` (CollapsingMergeTree: merges drop the pair, queries sum
/// `sign`). Writing needs each key's current segment, read per batch.
///
/// Why this is safe to repeat: a batch's rows are derived from the current state and the batch's *every* event
/// (not only those not stored yet), so a replay, a retry after the events were stored, or a retry after these
/// rows were stored (the answer was lost) writes exactly what is missing, nothing twice. A batch's rows go in one
/// INSERT (one block: all or nothing; over `maxRowsPerInsert` rows, in several, a cancel row never apart from its
/// replacement). Two writers extending the same session at the same moment would overlap;
/// events are keyed by user on Kafka, so a session lives in one partition and one worker, as for the
/// position check.
struct FunnelSegment: Hashable, Sendable {
    /// The step's index in the top two bits, 62 bits of the session's SipHash below.
    var key: UInt64
    /// Exclusive start: the previous segment's end, or `Int64.min` for the first.
    var previousMillis: Int64
    var lastMillis: Int64
}

enum FunnelSegments {
    static let noPrevious = Int64.min

    /// The same key `sipHash64` gives on the server (`bitOr(bitShiftLeft(step, 62), bitShiftRight(hash, 2))`).
    static func key(stepIndex: Int, sessionID: String) -> UInt64 {
        UInt64(stepIndex) << 62 | SipHash64.hash(sessionID) >> 2
    }

    /// The latest event time of each funnel step and session in `events`.
    static func latestSteps(of events: [AcceptedEvent]) -> [UInt64: Int64] {
        var latest: [UInt64: Int64] = [:]
        for accepted in events {
            let event = accepted.event
            guard let step = ClickHouseSchema.funnelSteps.firstIndex(of: event.type) else { continue }
            let key = key(stepIndex: step, sessionID: event.sessionID)
            if let known = latest[key], known >= event.timestamp { continue }
            latest[key] = event.timestamp
        }
        return latest
    }

    /// The rows that bring the stored segments up to `latest`: a first segment for a new key; for a key whose
    /// latest time moves later, the cancelled current segment and the extended one. Keys whose batch time is
    /// not later than the stored one need nothing.
    static func rows(latest: [UInt64: Int64], current: [UInt64: FunnelSegment])
        -> [(segment: FunnelSegment, sign: Int8)]
    {
        var rows: [(segment: FunnelSegment, sign: Int8)] = []
        rows.reserveCapacity(latest.count)
        for (key, last) in latest {
            if let segment = current[key] {
                guard last > segment.lastMillis else { continue }
                rows.append((segment, -1))
                rows.append((FunnelSegment(key: key, previousMillis: segment.previousMillis, lastMillis: last), 1))
            } else {
                rows.append((FunnelSegment(key: key, previousMillis: noPrevious, lastMillis: last), 1))
            }
        }
        return rows
    }
}

extension ClickHouseEventStore {
    static let segmentColumns = ["step_session", "prev_ms", "last_ms", "sign"]

    /// Brings `funnel_segments` up to the funnel steps of `events` (see `FunnelSegments`).
    func storeFunnelSegments(of events: [AcceptedEvent], schema: ClickHouseSchema) async throws {
        let latest = FunnelSegments.latestSteps(of: events)
        guard !latest.isEmpty else { return }
        let current = try await currentSegments(of: latest.keys, schema: schema)
        let rows = FunnelSegments.rows(latest: latest, current: current)
        guard !rows.isEmpty else { return }
        // One INSERT per chunk, a cancel row always with its replacement; rows of one key never span two.
        let limit = max(2, client.configuration.maxRowsPerInsert)
        var start = 0
        while start < rows.count {
            var end = min(start + limit, rows.count)
            if end < rows.count, rows[end - 1].sign == -1 { end -= 1 }
            var writer = RowBinaryWriter(capacity: (end - start) * 25)
            for (segment, sign) in rows[start..<end] {
                writer.uint64(segment.key)
                writer.int64(segment.previousMillis)
                writer.int64(segment.lastMillis)
                writer.int8(sign)
            }
            try await client.insert(into: schema.table("funnel_segments"), columns: Self.segmentColumns,
                                    rowBinary: writer.buffer)
            start = end
        }
    }

    /// The current segment of each key that has one: the row with the latest end (a cancelled segment always
    /// ends earlier than the one that replaced it). The keys travel as an external table, as decimal lines (in
    /// a multipart body, text keeps clear of anything a form parser could take for a delimiter); PREWHERE
    /// reads the other columns only for the rows that match (a third less time than WHERE on 18.16).
    private func currentSegments(of keys: Dictionary<UInt64, Int64>.Keys, schema: ClickHouseSchema) async throws
        -> [UInt64: FunnelSegment]
    {
        var lines = ByteBufferAllocator().buffer(capacity: keys.count * 21)
        for key in keys {
            lines.writeString(String(key))
            lines.writeInteger(UInt8(ascii: "\n"))
        }
        let table = ClickHouseExternalTable(name: "batch_keys", structure: "key UInt64", format: "TabSeparated",
                                            data: lines)
        let sql = """
            SELECT step_session, argMax(prev_ms, last_ms), max(last_ms) FROM \(schema.table("funnel_segments"))
            PREWHERE step_session IN batch_keys GROUP BY step_session
            """
        var current: [UInt64: FunnelSegment] = [:]
        current.reserveCapacity(keys.count)
        for try await row in try await client.query(sql, external: table) {
            guard row.count == 3, let key = UInt64(row[0]), let previous = Int64(row[1]), let last = Int64(row[2])
            else { throw ClickHouseError.malformedResult("funnel segment row \(row)") }
            current[key] = FunnelSegment(key: key, previousMillis: previous, lastMillis: last)
        }
        return current
    }
}

import Foundation
import Hummingbird
import VectorStreamCore

/// The console's routes: `/v1/overview`, `/v1/dead-letters`, `/v1/metrics/history`.
extension APIHandlers {
    /// A heartbeat older than this marks a worker as stale in the overview.
    static let staleAfterMillis: EpochMillis = 30_000

    // MARK: Overview

    /// Everything the console's panels show that is not a time series or a page: dependencies' health (each
    /// check's state, latency, reason and since when; each breaker), stores (events, vectors, dead letters,
    /// embedded store size), the embedder, every worker (partitions, lag, last heartbeat) and the pipeline's
    /// windowed figures over all workers. Parts that could not be read are null and named in `unavailable`.
    func overview() async throws -> Response {
        let deps = dependencies
        async let checksPart = checkAll()
        async let workersPart = Self.attempt { () async throws -> [String: PipelineStats]? in try await deps.liveState?.workers() }
        async let vectorsPart = Self.attempt { try await deps.vectors.count() }
        async let eventsPart = Self.attempt { try await deps.analytics.eventCount() }
        let deadLetterGuard = deadLetterGuard
        async let deadPart = Self.attempt { () async throws -> [String: Int64]? in
            guard let reader = deps.deadLetters, let g = deadLetterGuard else { return nil }
            return try await g.call { try await reader.deadLetterCounts() }
        }
        let now = wallClockMillis()
        var unavailable: [String: Any] = [:]

        var checks: [String: Any] = [:]
        for check in await checksPart {
            let (status, reason): (String, String?) = switch check.health {
            case .ok: ("ok", nil)
            case .degraded(let r): ("degraded", r)
            case .down(let r): ("down", r)
            }
            let since = healthMemory.note(check.name, status: status, now: now)
            checks[check.name] = ["status": status, "reason": reason ?? NSNull(),
                                  "latency_ms": Self.milliseconds(check.latency), "since": Self.iso(since)] as [String: Any]
        }
        var breakers: [String: Any] = [:]
        for g in guards {
            let s = g.breaker.snapshot()
            breakers[g.name] = ["state": s.state.rawValue, "since": Self.iso(s.sinceWallMillis),
                                "consecutive_failures": s.consecutiveFailures, "last_error": s.lastError ?? NSNull(),
                                "last_latency_ms": s.lastLatency.map(Self.milliseconds) ?? NSNull()] as [String: Any]
        }

        var live: [String: PipelineStats] = [:]
        switch await workersPart {
        case .success(let all?): live = all
        case .success(nil): break
        case .failure(let error): unavailable["live_state"] = Self.reason(error)
        }
        // Without live state (or before the first publish) this process's own engine is the one worker.
        if live.isEmpty, let local = deps.localStats { live["local"] = local() }
        var workers: [String: Any] = [:]
        for (name, s) in live {
            let heartbeat = s.updatedAt
            workers[name] = [
                "partitions": s.lagByPartition.keys.sorted(), "lag_by_partition": s.lagByPartition,
                "lag": s.lagByPartition.values.reduce(0, +),
                "last_heartbeat": heartbeat > 0 ? Self.iso(heartbeat) : NSNull(),
                "heartbeat_age_seconds": heartbeat > 0 ? Double(max(0, now - heartbeat)) / 1000 : NSNull(),
                "stale": heartbeat > 0 && now - heartbeat > Self.staleAfterMillis,
                "events_total": s.eventsTotal, "events_stored": s.eventsStored, "events_rejected": s.eventsRejected,
                "recent_events_per_second": s.recentEventsPerSecond, "recent_stored_per_second": s.recentStoredPerSecond,
                "recent_rejected_per_second": s.recentRejectedPerSecond,
                "recent_latency_p50_ms": s.recentLatencyP50Millis, "recent_latency_p99_ms": s.recentLatencyP99Millis,
            ] as [String: Any]
        }
        let pipeline = Self.combine(Array(live.values))

        var stores: [String: Any] = ["events": NSNull(), "vectors": NSNull(), "dead_letters": NSNull(),
                                     "embedded_bytes_in_use": NSNull(), "embedded_bytes_on_disk": NSNull()]
        switch await vectorsPart {
        case .success(let n): stores["vectors"] = n
        case .failure(let error): unavailable["vector_store"] = Self.reason(error)
        }
        switch await eventsPart {
        case .success(let n): stores["events"] = n
        case .failure(let error): unavailable["analytics_store"] = Self.reason(error)
        }
        var deadCounts: [String: Int64] = [:]
        switch await deadPart {
        case .success(let counts?):
            deadCounts = counts
            stores["dead_letters"] = counts.values.reduce(0, +)
        case .success(nil): break
        case .failure(let error): unavailable["dead_letters"] = Self.reason(error)
        }
        if let size = deps.storeSize?() {
            stores["embedded_bytes_in_use"] = size.bytesInUse ?? NSNull()
            stores["embedded_bytes_on_disk"] = size.bytesOnDisk ?? NSNull()
        }
        let details = deps.embedderDetails?() ?? EmbedderDetails()
        let embedder: [String: Any] = [
            "model_version": deps.embedder.modelVersion, "dimension": deps.embedder.dimension,
            "precision": details.precision ?? NSNull(), "matrix_kernel": details.matrixKernel ?? NSNull(),
            "sentences_embedded": details.sentencesEmbedded ?? NSNull(),
            "sentences_per_second": details.sentencesPerSecond ?? NSNull(),
        ]
        var body: [String: Any] = [
            "generated_at": Self.iso(now), "model_version": deps.embedder.modelVersion, "checks": checks,
            "breakers": breakers, "stores": stores, "dead_letters_by_reason": deadCounts, "embedder": embedder,
            "workers": workers, "pipeline": pipeline,
        ]
        if !unavailable.isEmpty { body["unavailable"] = unavailable }
        return try JSON.response(body)
    }

    /// The pipeline's windowed figures over all workers: rates and lag summed, latency the highest, each stage's
    /// time the highest p50/p99 with batches summed.
    static func combine(_ all: [PipelineStats]) -> [String: Any] {
        var stages: [String: [String: Any]] = [:]
        for stage in PipelineStage.allCases {
            let figures = all.compactMap { $0.recentStageMillis[stage.rawValue] }
            guard !figures.isEmpty else { continue }
            stages[stage.rawValue] = ["p50_ms": figures.map(\.p50Millis).max() ?? 0,
                                      "p99_ms": figures.map(\.p99Millis).max() ?? 0,
                                      "batches": figures.map(\.batches).reduce(0, +)]
        }
        var lag: [String: Int64] = [:]
        for s in all { lag.merge(s.lagByPartition) { max($0, $1) } }
        return [
            "workers": all.count,
            "events_total": all.map(\.eventsTotal).reduce(0, +), "events_stored": all.map(\.eventsStored).reduce(0, +),
            "events_rejected": all.map(\.eventsRejected).reduce(0, +),
            "events_deduplicated": all.map(\.eventsDeduplicated).reduce(0, +),
            "products_embedded": all.map(\.productsEmbedded).reduce(0, +),
            "recent_window_seconds": all.map(\.recentWindowSeconds).max() ?? 0,
            "recent_events_per_second": all.map(\.recentEventsPerSecond).reduce(0, +),
            "recent_stored_per_second": all.map(\.recentStoredPerSecond).reduce(0, +),
            "recent_rejected_per_second": all.map(\.recentRejectedPerSecond).reduce(0, +),
            "recent_latency_p50_ms": all.map(\.recentLatencyP50Millis).max() ?? 0,
            "recent_latency_p99_ms": all.map(\.recentLatencyP99Millis).max() ?? 0,
            "recent_stage_ms": stages, "lag_by_partition": lag, "lag": lag.values.reduce(0, +),
        ]
    }

    static func iso(_ millis: EpochMillis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    // MARK: Dead letters

    /// Newest first: `limit` (1-200, default 20) samples with `reason` as their code, older than the cursor
    /// `before` (a previous page's `next`); `next` is null on the last page; `counts` are per reason, all kept.
    func deadLetters(query: Parameters) async throws -> Response {
        let limit = try Self.integer(query["limit"].map { String($0) }, name: "limit", default: 20, range: 1...200)
        var reason: String?
        if let r = query["reason"].map({ String($0) }), !r.isEmpty {
            guard r.unicodeScalars.count <= 64, r.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control })
            else { throw APIError.badRequest("reason must be a reason code (1 to 64 characters), as in counts") }
            reason = r
        }
        var before: DeadLetterCursor?
        if let b = query["before"].map({ String($0) }) {  // present but empty is no cursor: 400, as the document says
            guard b.utf8.count <= 512, let cursor = DeadLetterCursor(text: b) else {
                throw APIError.badRequest("before must be the \"next\" cursor of a previous page")
            }
            before = cursor
        }
        guard let reader = dependencies.deadLetters, let g = deadLetterGuard else {
            return try JSON.response(["items": [Any](), "next": NSNull(), "counts": [String: Any](), "reason": reason ?? NSNull()])
        }
        let (code, cursor) = (reason, before)
        let page = try await g.call { try await reader.deadLetters(reason: code, limit: limit + 1, before: cursor) }
        let counts = try await g.call { try await reader.deadLetterCounts() }
        let items = Array(page.prefix(limit))
        let next: Any = page.count > limit ? (items.last?.cursor.text ?? NSNull()) : NSNull()
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(items))
        return try JSON.response(["items": encoded, "next": next, "counts": counts, "reason": reason ?? NSNull()])
    }

    // MARK: Metrics history

    /// `metric` over the last `minutes` (1-10080, default 60) in buckets of `step` seconds (1-86400; default:
    /// about 120 buckets), for one `worker` or all.
    /// About 120 buckets (at least 60), rounded up to a step a clock reads well; from a minute on these are whole
    /// minutes and from five minutes whole fives, so a window of an hour or more reads the 1- or 5-minute rollup
    /// instead of every point (1 h: 60 s, 24 h: 900 s). There is no 30 s step: an hour of points bucketed by 30 s
    /// cost a p99 of 25 ms (BENCHMARKS.md), the rollup a few.
    static func defaultStep(minutes: Int) -> Int {
        let wanted = max(1, (minutes * 60 + 119) / 120)
        let steps = [1, 2, 5, 10, 15, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400]
        return steps.first { $0 >= wanted } ?? 86_400
    }

    func metricsHistory(query: Parameters) async throws -> Response {
        guard let name = query["metric"].map({ String($0) }), !name.isEmpty else {
            throw APIError.badRequest("metric is required: one of \(HistoryMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let metric = HistoryMetric(rawValue: name) else {
            throw APIError.badRequest("metric must be one of \(HistoryMetric.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let minutes = try Self.integer(query["minutes"].map { String($0) }, name: "minutes", default: 60, range: 1...10_080)
        let askedStep = try Self.integer(query["step"].map { String($0) }, name: "step",
                                         default: Self.defaultStep(minutes: minutes), range: 1...86_400)
        // At most 2,000 buckets: a smaller step than that allows is raised (the answer's `step` says which was used),
        // not refused, since the document cannot state a limit that spans two parameters.
        let step = max(askedStep, (minutes * 60 + 1999) / 2000)
        var worker: String?
        if let w = query["worker"].map({ String($0) }) {
            try Self.checkID(w, name: "worker")
            worker = w
        }
        let stepMillis = Int64(step) * 1000
        let now = wallClockMillis()
        let to = (now / stepMillis + 1) * stepMillis
        let from = to - Int64((minutes * 60 + step - 1) / step) * stepMillis
        let q = MetricsHistoryQuery(metric: metric, from: from, to: to, stepSeconds: step, worker: worker)
        var series = MetricsSeries(values: [Double?](repeating: nil, count: Int((to - from) / stepMillis)), workers: [], source: "none")
        if let history = dependencies.metricsHistory, let g = historyGuard {
            series = try await g.call { try await history.series(q) }
        }
        let points: [[String: Any]] = series.values.enumerated().map { i, v in
            ["t": from + Int64(i) * stepMillis, "value": v.map { $0.isFinite ? ($0 * 1000).rounded() / 1000 : 0 } ?? NSNull()]
        }
        return try JSON.response([
            "metric": metric.rawValue, "unit": metric.unit, "minutes": minutes, "step": step,
            "worker": worker ?? NSNull(), "workers": series.workers, "source": series.source,
            "from": from, "to": to, "points": points,
        ])
    }
}

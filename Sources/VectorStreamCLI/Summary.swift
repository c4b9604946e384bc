import Foundation
import VectorStreamCore

/// The end-of-run summary: the engine's figures and what the stores hold. `--json` prints it as one object; the
/// human form shows the same figures (same keys, same values), aligned, nested sections indented, numbers grouped.
struct Summary {
    var fields: [(String, Any)]

    static func make(stats: PipelineStats, assembly: PipelineAssembly, dataDirectory: String) async throws -> Summary {
        var fields: [(String, Any)] = [
            ("events_total", stats.eventsTotal), ("events_valid", stats.eventsValid),
            ("events_rejected", stats.eventsRejected), ("events_deduplicated", stats.eventsDeduplicated),
            ("events_stored", stats.eventsStored), ("products_embedded", stats.productsEmbedded),
            ("embedding_cache_hits", stats.embeddingCacheHits), ("batches", stats.batches),
            ("batch_retries", stats.batchRetries),
            ("elapsed_seconds", round3(stats.elapsedSeconds)), ("events_per_second", round3(stats.eventsPerSecond)),
            ("events_per_second_steady", round3(stats.steadyEventsPerSecond)),
            ("latency_p50_ms", round3(stats.latencyP50Millis)), ("latency_p99_ms", round3(stats.latencyP99Millis)),
            ("latency_max_ms", round3(stats.latencyMaxMillis)), ("dedup_us_per_event", round3(stats.dedupMicrosPerEvent)),
        ]
        var store: [String: Any] = ["events": try await assembly.analytics.eventCount(),
                                    "vectors": try await assembly.vectors.count()]
        if assembly.configuration.kafka.brokers != nil {
            store["dead_letters"] = "topic \(assembly.configuration.kafka.deadLetterTopic)"
        } else if let sqlite = assembly.sqliteEvents {
            store["dead_letters"] = try await sqlite.deadLetterCount()
            store["dead_letters_by_reason"] = try await sqlite.deadLettersByCode()
            store["dead_letter_file"] = (dataDirectory as NSString).appendingPathComponent(assembly.configuration.pipeline.deadLetterFile)
        }
        store["vectors_upserted_all_runs"] = try assembly.database.counter("vectors_upserted")
        fields.append(("store", store))
        fields.append(("model_version", assembly.embedder.modelVersion))
        fields.append(("data_dir", dataDirectory))
        return Summary(fields: fields)
    }

    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

    func print(json: Bool) {
        Swift.print(json ? jsonText() : humanText())
    }

    func jsonText() -> String {
        let object = Dictionary(fields, uniquingKeysWith: { a, _ in a })
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Titles for keys whose plain spelling would mislead; any other key is shown with spaces for underscores.
    static let titles: [String: String] = [
        "events_total": "events read", "events_valid": "valid", "events_rejected": "rejected (to dead letters)",
        "events_deduplicated": "deduplicated (seen before)", "events_stored": "stored",
        "events_per_second": "events/s", "events_per_second_steady": "events/s once embedded",
        "elapsed_seconds": "elapsed (s)", "latency_p50_ms": "latency p50 (ms)", "latency_p99_ms": "latency p99 (ms)",
        "latency_max_ms": "latency max (ms)", "dedup_us_per_event": "dedup per event (µs)",
        "store": "in the stores (all runs)", "dead_letters_by_reason": "dead letters by reason",
        "vectors_upserted_all_runs": "vectors upserted", "data_dir": "data directory",
    ]

    /// Maps whose keys are data (shown as they are, sorted), not names of figures.
    static let dataMaps: Set<String> = ["dead_letters_by_reason"]
    static let preferredOrder = ["events", "vectors", "vectors_upserted_all_runs", "dead_letters", "dead_letters_by_reason",
                                 "dead_letter_file"]

    static func order(_ key: String) -> String {
        preferredOrder.firstIndex(of: key).map { String(format: "0%03d", $0) } ?? "1" + key
    }

    /// One row per figure: indentation, title, value (nil for a section heading).
    private func rows() -> [(indent: Int, title: String, value: String?, numeric: Bool)] {
        var out: [(Int, String, String?, Bool)] = []
        func add(_ key: String, _ value: Any, indent: Int, raw: Bool = false) {
            let title = raw ? key : Self.titles[key] ?? key.replacingOccurrences(of: "_", with: " ")
            if let map = value as? [String: Any] {
                if map.isEmpty {
                    out.append((indent, title, "none", false))
                    return
                }
                out.append((indent, title, nil, false))
                // Data (reason codes) keeps its own spelling; figures come in a fixed order, then the rest.
                let rawChildren = Self.dataMaps.contains(key)
                for (k, v) in map.sorted(by: { Self.order($0.key) < Self.order($1.key) }) {
                    add(k, v, indent: indent + 1, raw: rawChildren)
                }
            } else if let text = Self.number(value) {
                out.append((indent, title, text, true))
            } else {
                out.append((indent, title, "\(value)", false))
            }
        }
        // The run's figures first, then the stores, then where things are.
        for (key, value) in fields { add(key, value, indent: 0) }
        return out
    }

    func humanText() -> String {
        let rows = rows()
        let labelWidth = rows.filter { $0.value != nil }.map { $0.indent * 2 + $0.title.count }.max() ?? 0
        let numberWidth = rows.filter(\.numeric).compactMap { $0.value?.count }.max() ?? 0
        return rows.map { row in
            let label = String(repeating: "  ", count: row.indent) + row.title
            guard let value = row.value else { return label }
            let padded = label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            let shown = row.numeric ? String(repeating: " ", count: max(0, numberWidth - value.count)) + value : value
            return padded + "  " + shown
        }.joined(separator: "\n")
    }

    /// A number as the JSON has it, with thousands grouped: 1234567 → 1,234,567; 12345.678 → 12,345.678.
    static func number(_ value: Any) -> String? {
        switch value {
        case let n as Int: return ProgressReporter.grouped(n)
        case let n as Int64: return ProgressReporter.grouped(Int(n))
        case let n as Int32: return ProgressReporter.grouped(Int(n))
        case let x as Double:
            guard x.isFinite else { return "\(x)" }
            var whole = x.rounded(.towardZero)
            var fraction = (abs(x - whole) * 1000).rounded()
            if fraction >= 1000 {
                whole += x < 0 ? -1 : 1
                fraction = 0
            }
            var text = (x < 0 && whole == 0 ? "-" : "") + ProgressReporter.grouped(Int(whole))
            if fraction > 0 {
                var digits = String(Int(fraction))
                digits = String(repeating: "0", count: 3 - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                text += "." + digits
            }
            return text
        default: return nil
        }
    }
}

import Foundation
import VectorStreamCore

/// Reads JSON lines from a file, resuming from the byte offset committed in the embedded database.
///
/// A record's offset is its byte position, so a restart after kill -9 re-reads only what was not acknowledged,
/// and the idempotent sinks absorb the overlap.
public final class JSONLinesFileSource: EventSource, @unchecked Sendable {
    // @unchecked: the reader state is touched only by the engine's single consuming task.
    private let handle: FileHandle
    private let database: EmbeddedDatabase?
    private let topic: String
    private var buffer: [UInt8] = []
    private var bufferStart = 0
    private var nextOffset: Int64
    private var atEOF = false
    /// Keep waiting for more lines at end of file (like `tail -f`).
    private let follow: Bool

    public init(path: String, database: EmbeddedDatabase?, follow: Bool = false) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigurationError("cannot open source file '\(path)'")
        }
        self.handle = handle
        self.database = database
        self.follow = follow
        topic = "file:" + URL(fileURLWithPath: path).standardizedFileURL.path
        nextOffset = try database?.committedOffsets(topic: topic)[0] ?? 0
        try handle.seek(toOffset: UInt64(nextOffset))
    }

    public func nextBatch(maxRecords: Int, deadline: ContinuousClock.Instant) async throws -> RecordBatch? {
        var records: [RawRecord] = []
        records.reserveCapacity(min(maxRecords, 65_536))
        while records.count < maxRecords {
            if let line = nextLine() {
                let (bytes, offset) = line
                if !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                    records.append(RawRecord(bytes: bytes, position: SourcePosition(topic: topic, partition: 0, offset: offset),
                                             arrivalNanos: monotonicNanos()))
                }
                continue
            }
            if try fill() { continue }
            if !follow {
                // Last line without a newline still counts.
                if bufferStart < buffer.count {
                    let bytes = Array(buffer[bufferStart...])
                    let offset = nextOffset
                    nextOffset += Int64(bytes.count)
                    bufferStart = buffer.count
                    records.append(RawRecord(bytes: bytes, position: SourcePosition(topic: topic, partition: 0, offset: offset),
                                             arrivalNanos: monotonicNanos()))
                }
                if records.isEmpty { return nil }
                break
            }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return RecordBatch(records: records, commitToken: CommitToken(nextOffsets: [TopicPartition(topic: topic, partition: 0): nextOffset]))
    }

    /// Returns a complete line and its byte offset, advancing the read position.
    private func nextLine() -> ([UInt8], Int64)? {
        guard let newline = buffer[bufferStart...].firstIndex(of: 0x0A) else { return nil }
        let line = Array(buffer[bufferStart..<newline])
        let offset = nextOffset
        nextOffset += Int64(newline - bufferStart + 1)
        bufferStart = newline + 1
        return (line.last == 0x0D ? Array(line.dropLast()) : line, offset)
    }

    private func fill() throws -> Bool {
        if bufferStart > 0 {
            buffer.removeFirst(bufferStart)
            bufferStart = 0
        }
        guard let data = try handle.read(upToCount: 1 << 20), !data.isEmpty else { return false }
        buffer.append(contentsOf: data)
        return true
    }

    public func acknowledge(_ token: CommitToken) async throws {
        try database?.commit(token)
    }
}

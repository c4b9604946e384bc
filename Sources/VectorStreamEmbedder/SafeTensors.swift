#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read-only memory mapping of a whole file. Pages are loaded on first touch and shared with the page cache,
/// so an unused row of the word-embedding table costs no memory.
final class MappedFile: @unchecked Sendable {  // immutable after init; the mapping lives as long as the object
    let path: String
    let base: UnsafeRawPointer
    let size: Int

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw EmbedderError.missingFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw EmbedderError.missingFile(path: path, reason: String(cString: strerror(errno)))
        }
        size = Int(info.st_size)
        guard size > 0 else { throw EmbedderError.malformedFile(path: path, reason: "file is empty") }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw EmbedderError.missingFile(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapping)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// Hands the whole pages of `bytes` at `start` back to the page cache (for data already copied elsewhere).
    /// Only a memory hint: the mapping is private and never written, so a later read maps the file's bytes again.
    func release(_ start: UnsafeRawPointer, bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = max(Int(bitPattern: start), Int(bitPattern: base))
        let to = min(Int(bitPattern: start) + bytes, Int(bitPattern: base) + size)
        let first = (from + page - 1) / page * page
        let last = to / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, last - first, Int32(MADV_DONTNEED))
    }
}

/// A safetensors file read in place: `u64 little-endian header length`, a JSON header, then raw tensors.
struct SafeTensorsFile: @unchecked Sendable {
    struct TensorInfo: Sendable, Hashable {
        var dtype: String
        var shape: [Int]
        var start: Int
        var end: Int
    }

    let file: MappedFile
    let tensors: [String: TensorInfo]
    let headerLength: Int
    /// Cheap fingerprint of the weights: FNV-1a over the header (names, shapes, offsets) and the file size.
    let fingerprint: UInt64

    var path: String { file.path }

    init(path: String) throws {
        let file = try MappedFile(path: path)
        self.file = file
        guard file.size >= 8 else {
            throw EmbedderError.malformedFile(path: path, reason: "\(file.size) bytes, shorter than the 8-byte header length")
        }
        let headerLength = Int(UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self)))
        guard headerLength > 1, headerLength <= file.size - 8, headerLength < 100_000_000 else {
            throw EmbedderError.malformedFile(
                path: path, reason: "header length \(headerLength) does not fit in a file of \(file.size) bytes")
        }
        self.headerLength = headerLength
        let headerBytes = UnsafeRawBufferPointer(start: file.base + 8, count: headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes))
        } catch {
            throw EmbedderError.malformedFile(path: path, reason: "header is not valid JSON")
        }
        guard let entries = json as? [String: Any] else {
            throw EmbedderError.malformedFile(path: path, reason: "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = file.size - dataStart
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in entries where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                offsets.count == 2
            else {
                throw EmbedderError.malformedFile(path: path, reason: "tensor \(name): entry lacks dtype, shape or data_offsets")
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw EmbedderError.malformedFile(
                    path: path,
                    reason: "tensor \(name): data \(offsets[0])..<\(offsets[1]) lies outside the \(dataSize) data bytes (file truncated?)")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, start: dataStart + offsets[0], end: dataStart + offsets[1])
        }
        self.tensors = tensors
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in headerBytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        for shift in stride(from: 0, to: 64, by: 8) {
            hash = (hash ^ UInt64((file.size >> shift) & 0xff)) &* 0x100_0000_01b3
        }
        fingerprint = hash
    }

    /// The float32 tensor `name`, checked to have exactly `shape`.
    func float32(_ name: String, shape expected: [Int]) throws -> UnsafePointer<Float> {
        guard let info = tensors[name] else {
            throw EmbedderError.malformedFile(path: path, reason: "tensor \(name) is missing")
        }
        guard info.dtype == "F32" else {
            throw EmbedderError.malformedFile(path: path, reason: "tensor \(name) has dtype \(info.dtype), expected F32")
        }
        guard info.shape == expected else {
            throw EmbedderError.malformedFile(
                path: path, reason: "tensor \(name) has shape \(info.shape), expected \(expected) from config.json")
        }
        let count = expected.reduce(1, *)
        guard info.end - info.start == count * 4 else {
            throw EmbedderError.malformedFile(
                path: path, reason: "tensor \(name) holds \(info.end - info.start) bytes, expected \(count * 4)")
        }
        let raw = file.base + info.start
        guard Int(bitPattern: raw) % MemoryLayout<Float>.alignment == 0 else {
            throw EmbedderError.malformedFile(path: path, reason: "tensor \(name) is not 4-byte aligned")
        }
        return raw.assumingMemoryBound(to: Float.self)
    }
}

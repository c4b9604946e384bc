import Crypto
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing local files in bounded pieces, so an object of any size passes through a fixed amount of
/// memory. Plain `pread`/`write` calls: reads of a file just hashed come from the page cache, and a blocked call
/// holds one cooperative thread for the time of one 256 KiB read or write.
enum LocalFile {
    static let chunkSize = 256 * 1024

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func size(of path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Failure(description: "cannot read '\(path)': \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure(description: "'\(path)' is not a regular file") }
        return Int64(info.st_size)
    }

    static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open '\(path)': \(String(cString: strerror(errno)))") }
        return fd
    }

    /// SHA-256 (lowercase hex) of `length` bytes at `offset`, read in chunks: the hash S3 checks against the body.
    static func sha256(path: String, offset: Int64, length: Int64) throws -> String {
        let fd = try openForReading(path)
        defer { close(fd) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var position = offset
        var left = length
        while left > 0 {
            let want = Int(min(Int64(chunkSize), left))
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw Failure(description: "'\(path)' ended or failed while reading at \(position)") }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            position += Int64(got)
            left -= Int64(got)
        }
        return SigV4Signer.hex(hasher.finalize())
    }
}

/// `length` bytes of a file from `offset`, as a request body that reads 256 KiB at a time when the HTTP client
/// asks for more (it asks only as the socket drains: memory stays bounded whatever the size).
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    let offset: Int64
    let length: Int64

    func makeAsyncIterator() -> Iterator { Iterator(path: path, offset: offset, length: length) }

    final class Iterator: AsyncIteratorProtocol {
        let path: String
        var position: Int64
        var left: Int64
        var fd: Int32 = -1
        let allocator = ByteBufferAllocator()

        init(path: String, offset: Int64, length: Int64) {
            self.path = path
            self.position = offset
            self.left = length
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard left > 0 else {
                if fd >= 0 { close(fd); fd = -1 }
                return nil
            }
            if fd < 0 { fd = try LocalFile.openForReading(path) }
            let want = Int(Swift.min(Int64(LocalFile.chunkSize), left))
            var buffer = allocator.buffer(capacity: want)
            let (fd, start) = (self.fd, self.position)
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
                var n = -1
                repeat { n = pread(fd, pointer.baseAddress, want, off_t(start)) } while n < 0 && errno == EINTR
                return Swift.max(n, 0)
            }
            guard got > 0 else {
                throw LocalFile.Failure(description: "'\(path)' ended or failed while reading at \(position) (it changed during the upload?)")
            }
            position += Int64(got)
            left -= Int64(got)
            return buffer
        }
    }
}

/// A file written from a stream of buffers: to `path.partial-UUID` first, renamed over `path` only when complete,
/// so a failed or interrupted download never leaves a half file where the whole one is expected.
struct StreamedFileWriter {
    let path: String
    let temporaryPath: String
    let fd: Int32
    private(set) var written: Int64 = 0

    init(path: String) throws {
        self.path = path
        self.temporaryPath = path + ".partial-" + UUID().uuidString
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LocalFile.Failure(description: "cannot create '\(temporaryPath)': \(String(cString: strerror(errno)))")
        }
        self.fd = fd
    }

    mutating func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LocalFile.Failure(description: "cannot write '\(temporaryPath)': \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        written += Int64(buffer.readableBytes)
    }

    func finish() throws {
        guard close(fd) == 0 else {
            unlink(temporaryPath)
            throw LocalFile.Failure(description: "cannot close '\(temporaryPath)': \(String(cString: strerror(errno)))")
        }
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw LocalFile.Failure(description: "cannot move the download into '\(path)': \(reason)")
        }
    }

    func discard() {
        close(fd)
        unlink(temporaryPath)
    }
}

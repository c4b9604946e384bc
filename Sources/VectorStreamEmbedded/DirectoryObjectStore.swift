import Foundation
import VectorStreamCore

/// Objects as files under a directory: the embedded default when no S3 endpoint is configured.
///
/// A key is a relative path (`files/sha256/ab/cd/<sha256>`). Writes go to `.incomplete/` first and are renamed into
/// place after an fsync, so an object is either whole or absent; what a killed process left in `.incomplete/` is
/// removed at start (`removeIncompleteUploads`).
public struct DirectoryObjectStore: ObjectStore {
    public let root: String
    static let incomplete = ".incomplete"

    public init(root: String) throws {
        self.root = root
        do {
            try FileManager.default.createDirectory(atPath: root + "/" + Self.incomplete, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create the file store directory '\(root)': \(error.localizedDescription)")
        }
    }

    public var location: String { "directory \(root)" }

    /// Refuses keys that would leave the root or hide in the staging directory.
    func path(for key: String, operation: String) throws -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
              parts.first.map(String.init) != Self.incomplete else {
            throw ObjectStoreError.failed(location: location, operation: operation, code: "InvalidKey",
                                          message: "key '\(key)' is not a relative path of plain names", requestID: nil)
        }
        return root + "/" + key
    }

    private func failure(_ operation: String, _ error: any Error) -> ObjectStoreError {
        if let e = error as? ObjectStoreError { return e }
        let ns = error as NSError
        return .failed(location: location, operation: operation, code: "\(ns.domain)#\(ns.code)",
                       message: ns.localizedDescription, requestID: nil)
    }

    public func upload(file path: String, to key: String, contentType: String) async throws -> StoredObject {
        let target = try self.path(for: key, operation: "upload")
        let staging = root + "/" + Self.incomplete + "/" + UUID().uuidString
        do {
            try LocalFileCopy.copy(from: path, to: staging)
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            guard rename(staging, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            unlink(staging)
            throw failure("upload", error)
        }
        guard let stored = try await head(key: key) else { throw ObjectStoreError.notFound(key: key) }
        return stored
    }

    public func download(key: String, to path: String) async throws -> StoredObject {
        let source = try self.path(for: key, operation: "download")
        guard let stored = try await head(key: key) else { throw ObjectStoreError.notFound(key: key) }
        let partial = path + ".partial"
        do {
            try LocalFileCopy.copy(from: source, to: partial)
            guard rename(partial, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            unlink(partial)
            throw failure("download", error)
        }
        return stored
    }

    public func head(key: String) async throws -> StoredObject? {
        let p = try path(for: key, operation: "head")
        var info = stat()
        guard stat(p, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return StoredObject(key: key, size: Int64(info.st_size), etag: nil,
                            lastModified: Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000)
    }

    public func delete(key: String) async throws {
        let p = try path(for: key, operation: "delete")
        if unlink(p) != 0 && errno != ENOENT {
            throw failure("delete", POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
        }
    }

    public func list(prefix: String, startAfter: String?, limit: Int) async throws -> (objects: [StoredObject], isTruncated: Bool) {
        var keys: [String] = []
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let relative = walker.nextObject() as? String {
                if relative == Self.incomplete || relative.hasPrefix(Self.incomplete + "/") {
                    walker.skipDescendants()
                    continue
                }
                guard relative.hasPrefix(prefix), relative > (startAfter ?? "") else { continue }
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                    keys.append(relative)
                }
            }
        }
        keys.sort()
        var objects: [StoredObject] = []
        for key in keys.prefix(max(limit, 0)) {
            if let object = try await head(key: key) { objects.append(object) }
        }
        return (objects, keys.count > limit)
    }

    /// A directory has no URL a client could fetch without the API.
    public func downloadURL(key: String, expiresIn: Duration) async throws -> String? { nil }

    public func removeIncompleteUploads(olderThan: Duration) async throws -> Int {
        let directory = root + "/" + Self.incomplete
        let cutoff = Date().addingTimeInterval(-Double(olderThan.components.seconds))
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let p = directory + "/" + name
            let modified = (try? FileManager.default.attributesOfItem(atPath: p)[.modificationDate] as? Date) ?? .distantPast
            if modified <= cutoff, unlink(p) == 0 { removed += 1 }
        }
        return removed
    }
}

/// Streamed copies in 1 MiB pieces with an fsync at the end (bounded memory whatever the size).
enum LocalFileCopy {
    static func copy(from source: String, to target: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, path: source) }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, path: target) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, path: source)
            }
            if n == 0 { break }
            try buffer.withUnsafeBytes { try writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: target) }
        }
        guard fsync(output) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, path: target) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, path: path)
            }
            offset += n
        }
    }
}

extension POSIXError {
    init(_ code: POSIXErrorCode, path: String) {
        self.init(code, userInfo: [NSFilePathErrorKey: path])
    }
}

/// Local files for the file manager: a work directory under the data directory, read in chunks.
public struct LocalFiles: LocalFileAccess {
    public let workDirectory: String

    public init(workDirectory: String) throws {
        self.workDirectory = workDirectory
        do {
            try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create the work directory '\(workDirectory)': \(error.localizedDescription)")
        }
    }

    public func openForReading(_ path: String) throws -> any ByteReader {
        try FileByteReader(path: path)
    }

    public func remove(_ path: String) { unlink(path) }

    public func temporaryPath(_ hint: String) -> String {
        workDirectory + "/" + hint + "." + UUID().uuidString.prefix(8).lowercased()
    }

    /// Removes work files older than `olderThan` (left by a killed process); returns how many.
    @discardableResult
    public func removeStale(olderThan: Duration) -> Int {
        let cutoff = Date().addingTimeInterval(-Double(olderThan.components.seconds))
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: workDirectory)) ?? [] {
            let p = workDirectory + "/" + name
            let modified = (try? FileManager.default.attributesOfItem(atPath: p)[.modificationDate] as? Date) ?? .distantPast
            if modified <= cutoff, unlink(p) == 0 { removed += 1 }
        }
        return removed
    }
}

/// A file read in chunks through a POSIX descriptor.
public final class FileByteReader: ByteReader {
    private var fd: Int32

    public init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigurationError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
    }

    public func read(upTo count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigurationError("read failed: \(String(cString: strerror(errno)))")
            }
            buffer.removeLast(count - n)
            return buffer
        }
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    deinit { close() }
}

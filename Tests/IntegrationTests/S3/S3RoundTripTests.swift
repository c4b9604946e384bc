import AsyncHTTPClient
import Foundation
import NIOCore
import S3Client
import Testing
import VectorStreamCore
import VectorStreamS3

/// Every operation of the S3 client against a real S3 server (SeaweedFS, scripts/services/seaweedfs.sh).
@Suite("S3 round trips against SeaweedFS")
struct S3RoundTripTests {
    /// Keys that need S3's encoding: a space, '+', unicode, reserved characters, '//' (sent as is; SeaweedFS stores
    /// it as one slash, AWS keeps both).
    static let keys = ["plain.txt", "with space.txt", "plus+sign.csv", "unicode-ü-日本-🐋.json", "reserved*'()!$&=;:@,~.txt",
                       "folder/sub folder/file name.csv"]

    @Test func everyObjectOperationWithKeysThatNeedEncoding() async throws {
        let client = try await S3Test.client("ops")
        #expect(try await client.createBucket() == .alreadyOwned)
        for key in Self.keys {
            let body = Array("contents of \(key)".utf8)
            let put = try await client.putObject(key: key, bytes: body, contentType: "text/plain")
            #expect(put.etag != nil, "\(key)")
            let head = try #require(try await client.headObject(key: key), "\(key): no HEAD after PUT")
            #expect(head.size == Int64(body.count), "\(key)")
            #expect(head.etag == put.etag, "\(key)")
            #expect(try await client.getObjectBytes(key: key) == body, "\(key)")
            #expect(try await client.getObjectBytes(key: key, range: 2...5) == Array(body[2...5]), "\(key): range")
            let copy = "copy of \(key)"
            try await client.copyObject(from: key, to: copy)
            #expect(try await client.getObjectBytes(key: copy) == body, "\(key): copy")
        }
        let listed = try await client.listAllObjects()
        #expect(Set(listed.map(\.key)) == Set(Self.keys + Self.keys.map { "copy of \($0)" }), "\(listed.map(\.key))")
        #expect(listed.allSatisfy { $0.size > 0 && $0.lastModified != nil })
        let prefixed = try await client.listObjectsV2(prefix: "folder/", delimiter: nil)
        #expect(prefixed.objects.map(\.key) == ["folder/sub folder/file name.csv"])

        for key in Self.keys {
            try await client.deleteObject(key: key)
            #expect(try await client.headObject(key: key) == nil, "\(key) still there")
        }
        try await client.deleteObject(key: "never-existed")  // not an error
        do {
            _ = try await client.getObjectBytes(key: "plain.txt")
            Issue.record("GET of a deleted key succeeded")
        } catch let error as S3Error {
            #expect(error.code == "NoSuchKey" && error.status == 404, "\(error)")
            #expect(error.description.contains(try S3Test.endpoint()))
        }
        // A key with a dot segment is sent and signed as it is: SeaweedFS refuses such keys (AWS takes them), and
        // it says so with InvalidRequest, not SignatureDoesNotMatch: the signature over the raw path matched.
        do {
            try await client.putObject(key: "dots/../up", bytes: [1])
        } catch let error as S3Error {
            #expect(error.code != "SignatureDoesNotMatch", "\(error)")
        }
        // '//' survives the round trip by its own key.
        try await client.putObject(key: "dir//double", bytes: [7, 8])
        #expect(try await client.getObjectBytes(key: "dir//double") == [7, 8])
        await S3Test.cleanUp(client)
    }

    @Test func listObjectsV2PaginatesWithContinuationTokens() async throws {
        let client = try await S3Test.client("pages")
        let keys = (0..<23).map { String(format: "item-%03d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys { group.addTask { try await client.putObject(key: key, bytes: Array(key.utf8)) } }
            try await group.waitForAll()
        }
        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await client.listObjectsV2(continuationToken: token, maxKeys: 5)
            #expect(page.objects.count <= 5)
            seen += page.objects.map(\.key)
            token = page.nextContinuationToken
            pages += 1
            #expect(page.isTruncated == (token != nil))
        } while token != nil && pages < 20
        #expect(pages == 5, "23 keys in pages of 5")
        #expect(seen == keys)
        let after = try await client.listObjectsV2(startAfter: "item-020")
        #expect(after.objects.map(\.key) == ["item-021", "item-022"])

        // The ObjectStore contract over it: limit, startAfter, isTruncated.
        let store = S3ObjectStore(client: client)
        let first = try await store.list(prefix: "item-", startAfter: nil, limit: 10)
        #expect(first.objects.map(\.key) == Array(keys[0..<10]) && first.isTruncated)
        let rest = try await store.list(prefix: "item-", startAfter: first.objects.last?.key, limit: 100)
        #expect(rest.objects.map(\.key) == Array(keys[10...]) && !rest.isTruncated)
        await S3Test.cleanUp(client)
    }

    @Test func multipartOfThreePartsIsByteIdenticalAndStreamsBothWays() async throws {
        let client = try await S3Test.client("multipart")
        let partSize = S3ClientConfiguration.minimumPartSize
        let (path, hash) = try S3Test.randomFile(size: 2 * partSize + 123_457)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stored = try await client.uploadFile(path, key: "big file.bin")
        #expect(stored.etag?.hasSuffix("-3\"") == true, "three parts: \(stored.etag ?? "no etag")")
        #expect(try await client.headObject(key: "big file.bin")?.size == Int64(2 * partSize + 123_457))
        let target = S3Test.temporaryPath("download.bin")
        defer { try? FileManager.default.removeItem(atPath: target) }
        let fetched = try await client.getObject(key: "big file.bin", to: target)
        #expect(fetched.size == Int64(2 * partSize + 123_457))
        #expect(try S3Client.sha256Hex(ofFile: target) == hash)
        // A range across the first part boundary, to a handler.
        var ranged: [UInt8] = []
        try await client.getObject(key: "big file.bin", range: Int64(partSize - 10)...Int64(partSize + 9)) { ranged += $0.readableBytesView }
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(ranged == Array(whole[(partSize - 10)...(partSize + 9)]))
        #expect(try await client.listAllMultipartUploads().isEmpty)

        // By hand: create, parts, list the unfinished upload, complete.
        let id = try await client.createMultipartUpload(key: "manual.bin")
        #expect(try await client.listAllMultipartUploads().map(\.uploadID) == [id])
        var parts: [S3CompletedPart] = []
        for n in 0..<3 {
            parts.append(try await client.uploadPart(key: "manual.bin", uploadID: id, partNumber: n + 1, file: path,
                                                     offset: Int64(n * partSize), length: n == 2 ? 123_457 : Int64(partSize)))
        }
        try await client.completeMultipartUpload(key: "manual.bin", uploadID: id, parts: parts)
        #expect(try await client.getObjectBytes(key: "manual.bin", limit: 64 << 20) == Array(whole))
        // Abort of an upload nobody completes; a second abort finds it gone.
        let abandoned = try await client.createMultipartUpload(key: "abandoned.bin")
        #expect(try await client.abortMultipartUpload(key: "abandoned.bin", uploadID: abandoned) == .aborted)
        #expect(try await client.listAllMultipartUploads().isEmpty)
        try? FileManager.default.removeItem(atPath: path)
        await S3Test.cleanUp(client)
    }

    @Test func presignedGetIsFetchedByAPlainHTTPClient() async throws {
        let client = try await S3Test.client("presign")
        try await client.putObject(key: "shared file+1.txt", bytes: Array("presigned body".utf8))
        let url = client.presignedURL(key: "shared file+1.txt", expiresIn: .seconds(300))
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let response = try await plain.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status.code == 200)
            #expect(String(buffer: body) == "presigned body")
            // The same URL with its signature altered is refused: it is the signature that grants access.
            let tampered = url.replacingOccurrences(of: "X-Amz-Signature=", with: "X-Amz-Signature=0")
            let refused = try await plain.execute(HTTPClientRequest(url: tampered), timeout: .seconds(30))
            _ = try await refused.body.collect(upTo: 1 << 20)
            #expect(refused.status.code == 403)
        } catch {
            Issue.record("plain GET of the presigned URL failed: \(error)")
        }
        try await plain.shutdown()
        await S3Test.cleanUp(client)
    }

    @Test func wrongSecretNamesTheEndpointAndS3sCodeButNotTheSecret() async throws {
        let owner = try await S3Test.client("auth")
        let wrong = try S3Client(configuration: S3Test.configuration(bucket: owner.configuration.bucket, secret: "wrong-secret-xyz"))
        do {
            _ = try await wrong.putObject(key: "k", bytes: [1, 2, 3])
            Issue.record("a wrongly signed PUT was accepted")
        } catch let error as S3Error {
            #expect(["SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"].contains(error.code), "\(error)")
            #expect(error.status == 403)
            let text = error.description
            #expect(text.contains(try S3Test.endpoint()) && text.contains(error.code) && text.contains("PutObject"), "\(text)")
            #expect(!text.contains("wrong-secret-xyz") && !text.contains(S3Test.secretKey))
        }
        // Through the ObjectStore contract, the same: location, operation and code.
        let store = S3ObjectStore(client: wrong)
        do {
            _ = try await store.head(key: "k")
            _ = try await store.list(prefix: "", startAfter: nil, limit: 10)
            Issue.record("a wrongly signed list was accepted")
        } catch let error as ObjectStoreError {
            guard case .failed(let location, _, let code, _, _) = error else { Issue.record("\(error)"); return }
            #expect(location.contains(try S3Test.endpoint()) && !code.isEmpty)
            #expect(!"\(error)".contains("wrong-secret-xyz"))
        }
        try await wrong.shutdown()
        await S3Test.cleanUp(owner)
    }

    @Test func objectStoreContract() async throws {
        let client = try await S3Test.client("store")
        let store = S3ObjectStore(client: client)
        #expect(store.location.hasPrefix("s3://\(client.configuration.bucket) at http://127.0.0.1"))
        let (path, hash) = try S3Test.randomFile(size: 300_000, seed: 7)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stored = try await store.upload(file: path, to: "files/ab cd.csv", contentType: "text/csv")
        #expect(stored.size == 300_000 && stored.key == "files/ab cd.csv")
        #expect(try await store.head(key: "files/ab cd.csv")?.size == 300_000)
        #expect(try await store.head(key: "files/absent") == nil)
        let target = S3Test.temporaryPath("store.bin")
        defer { try? FileManager.default.removeItem(atPath: target) }
        FileManager.default.createFile(atPath: target, contents: Data("old contents".utf8))
        _ = try await store.download(key: "files/ab cd.csv", to: target)
        #expect(try S3Client.sha256Hex(ofFile: target) == hash)
        await #expect(throws: ObjectStoreError.notFound(key: "files/absent")) { _ = try await store.download(key: "files/absent", to: target) }
        #expect(try S3Client.sha256Hex(ofFile: target) == hash, "a failed download replaced the file")
        let url = try #require(try await store.downloadURL(key: "files/ab cd.csv", expiresIn: .seconds(60)))
        #expect(url.contains("X-Amz-Signature="))
        try await store.delete(key: "files/ab cd.csv")
        try await store.delete(key: "files/ab cd.csv")
        #expect(try await store.head(key: "files/ab cd.csv") == nil)
        await S3Test.cleanUp(client)
    }
}

import Foundation
import S3Client
import Testing

@Suite("S3 client without a server")
struct S3ClientUnitTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "unit-secret-never-shown", sessionToken: "unit-token")

    @Test func uriEncodingKeepsEveryKeyByteAndNeverNormalises() {
        #expect(SigV4Signer.encodePath("/b/a b+c/ü//../x~-._") == "/b/a%20b%2Bc/%C3%BC//../x~-._")
        #expect(SigV4Signer.encode("a/b=c&d", keepSlash: false) == "a%2Fb%3Dc%26d")
        #expect(SigV4Signer.encode("日本", keepSlash: true) == "%E6%97%A5%E6%9C%AC")
        #expect(SigV4Signer.encode("*'()!$", keepSlash: true) == "%2A%27%28%29%21%24")
        #expect(SigV4Signer.decode("a%20b+c%2F") == "a b+c/")
        #expect(SigV4Signer.canonicalQuery([("b", "2"), ("a", "x y"), ("a", "1"), ("uploads", "")]) == "a=1&a=x%20y&b=2&uploads=")
    }

    @Test func addressingStyles() async throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let pathStyle = try S3Client(configuration: S3ClientConfiguration(endpoint: "http://127.0.0.1:18333", bucket: "files",
                                                                         credentials: Self.credentials))
        let url1 = pathStyle.presignedURL(key: "dir//a b+c/../ü.csv", expiresIn: .seconds(60), date: date)
        #expect(url1.hasPrefix("http://127.0.0.1:18333/files/dir//a%20b%2Bc/../%C3%BC.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&"), "\(url1)")
        #expect(url1.contains("X-Amz-Security-Token=unit-token") && url1.contains("X-Amz-Expires=60"))
        #expect(!url1.contains("unit-secret"))
        #expect(pathStyle.location == "s3://files at http://127.0.0.1:18333")
        try await pathStyle.shutdown()

        let virtual = try S3Client(configuration: S3ClientConfiguration(endpoint: nil, bucket: "files", region: "eu-west-1",
                                                                        credentials: Self.credentials))
        let url2 = virtual.presignedURL(key: "k", expiresIn: .seconds(30 * 86_400), date: date)
        #expect(url2.hasPrefix("https://files.s3.eu-west-1.amazonaws.com/k?"), "\(url2)")
        #expect(url2.contains("X-Amz-Expires=604800"), "clamped to S3's 7 days")
        try await virtual.shutdown()
    }

    @Test func configurationIsCheckedBeforeAnyRequest() {
        func refusal(_ c: S3ClientConfiguration) -> String {
            do { _ = try S3Client(configuration: c); return "" } catch { return "\(error)" }
        }
        let small = refusal(S3ClientConfiguration(endpoint: "http://h:1", bucket: "b", credentials: Self.credentials, partSize: 1 << 20))
        #expect(small.contains("part size") && small.contains("http://h:1"), "\(small)")
        #expect(refusal(S3ClientConfiguration(endpoint: "ftp://h", bucket: "b", credentials: Self.credentials)).contains("not an http"))
        let userInfo = refusal(S3ClientConfiguration(endpoint: "http://user:pw-in-url@h:1", bucket: "", credentials: Self.credentials))
        #expect(!userInfo.contains("pw-in-url") && userInfo.contains("bucket"), "\(userInfo)")
    }

    @Test func errorsAndCredentialsNeverShowSecrets() {
        #expect(!"\(Self.credentials)".contains("unit-secret") && !"\(Self.credentials)".contains("unit-token"))
        let error = S3Error(operation: "GetObject", endpoint: "http://127.0.0.1:18333", bucket: "files", key: "a b", code: "NoSuchKey",
                            message: "The specified key does not exist.", requestID: "R1", status: 404)
        #expect(error.description == "S3 GetObject s3://files/a b at http://127.0.0.1:18333 failed: NoSuchKey (HTTP 404): The specified key does not exist., request id R1")
        #expect(!error.isRetryable)
        #expect(S3Error(operation: "x", endpoint: "e", code: "SlowDown", message: "", status: 503).isRetryable)
        #expect(S3Error(operation: "x", endpoint: "e", code: "InternalError", message: "", status: 500).isRetryable)
        #expect(S3Error(operation: "x", endpoint: "e", code: "ConnectionFailed", message: "").isRetryable)
        #expect(!S3Error(operation: "x", endpoint: "e", code: "SignatureDoesNotMatch", message: "", status: 403).isRetryable)
    }
}

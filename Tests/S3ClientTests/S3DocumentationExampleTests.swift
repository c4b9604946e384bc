import Foundation
import S3Client
import Testing

/// The worked examples of S3's documentation ("Signature Calculations for the Authorization Header: Transferring
/// Payload in a Single Chunk", and "Authenticating Requests: Using Query Parameters"): example credentials
/// AKIAIOSFODNN7EXAMPLE, 2013-05-24, us-east-1, bucket examplebucket. Signatures compared exactly.
@Suite("S3 documentation examples")
struct S3DocumentationExampleTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                            secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let signer = SigV4Signer(credentials: credentials, region: "us-east-1", service: "s3")
    static let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
    static let host = ("Host", "examplebucket.s3.amazonaws.com")

    @Test func getObjectWithRange() {
        let request = SigV4Signer.Request(method: "GET", path: "/test.txt", headers: [Self.host, ("Range", "bytes=0-9")])
        let signed = Self.signer.signHeaders(request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date)
        #expect(signed.canonicalRequest == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972
            """)
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func putObjectWithAKeyThatNeedsEncoding() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = SigV4Signer.sha256Hex(body)
        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let request = SigV4Signer.Request(method: "PUT", path: "/test$file.text", headers: [
            Self.host, ("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ])
        let signed = Self.signer.signHeaders(request, payloadHash: hash, date: Self.date)
        #expect(signed.canonicalRequest == """
            PUT
            /test%24file.text

            date:Fri, 24 May 2013 00:00:00 GMT
            host:examplebucket.s3.amazonaws.com
            x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            x-amz-date:20130524T000000Z
            x-amz-storage-class:REDUCED_REDUNDANCY

            date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class
            44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
            """)
        #expect(signed.stringToSign.hasSuffix("\n9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(signed.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func getBucketLifecycleWithAnEmptyQueryValue() {
        let request = SigV4Signer.Request(method: "GET", path: "/", query: [("lifecycle", "")], headers: [Self.host])
        let signed = Self.signer.signHeaders(request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date)
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "lifecycle=")
        #expect(signed.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func listObjectsWithSortedQuery() {
        let request = SigV4Signer.Request(method: "GET", path: "/", query: [("max-keys", "2"), ("prefix", "J")], headers: [Self.host])
        let signed = Self.signer.signHeaders(request, payloadHash: SigV4Signer.emptyPayloadHash, date: Self.date)
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "max-keys=2&prefix=J")
        #expect(signed.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func presignedURL() async throws {
        let request = SigV4Signer.Request(method: "GET", path: "/test.txt", headers: [Self.host])
        let signed = Self.signer.presign(request, date: Self.date, expires: 86_400)
        #expect(signed.canonicalRequest == """
            GET
            /test.txt
            X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host
            host:examplebucket.s3.amazonaws.com

            host
            UNSIGNED-PAYLOAD
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20130524T000000Z
            20130524/us-east-1/s3/aws4_request
            3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04
            """)
        #expect(signed.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        // The client builds the documented URL, virtual-hosted on AWS's endpoint.
        let client = try S3Client(configuration: S3ClientConfiguration(endpoint: "https://s3.amazonaws.com", bucket: "examplebucket",
                                                                      credentials: Self.credentials, pathStyle: false))
        let url = client.presignedURL(key: "test.txt", expiresIn: .seconds(86_400), date: Self.date)
        try await client.shutdown()
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
                + "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }
}

import Foundation
import S3Client
import Testing
import VectorStreamCore
import VectorStreamS3

@Suite("S3 configuration")
struct S3ConfigurationTests {
    @Test func keysVariablesAndDefaults() throws {
        let c = VectorStreamConfiguration()
        #expect(c.s3.endpoint == nil && c.s3.region == "us-east-1" && c.s3.partSizeMB == 8 && c.s3.pathStyle == nil)
        let byKey = Dictionary(uniqueKeysWithValues: VectorStreamConfiguration.keys.map { ($0.key, $0) })
        for (key, env, secret) in [("s3.endpoint", "VECTORSTREAM_S3_ENDPOINT", false), ("s3.bucket", "VECTORSTREAM_S3_BUCKET", false),
                                   ("s3.region", "VECTORSTREAM_S3_REGION", false), ("s3.access_key_id", "VECTORSTREAM_S3_ACCESS_KEY_ID", false),
                                   ("s3.secret_access_key", "VECTORSTREAM_S3_SECRET_ACCESS_KEY", true),
                                   ("s3.session_token", "VECTORSTREAM_S3_SESSION_TOKEN", true), ("s3.path_style", "VECTORSTREAM_S3_PATH_STYLE", false)] {
            let setting = try #require(byKey[key], "\(key) missing")
            #expect(setting.environment == env)
            #expect(setting.isSecret == secret, "\(key)")
        }
        #expect(VectorStreamConfiguration.keyListing.contains { $0.key == "s3.secret_access_key" })
    }

    @Test func fileThenVariablesThenAWSFallbacks() throws {
        var c = VectorStreamConfiguration()
        try c.apply(file: ["s3.endpoint": "http://127.0.0.1:18333", "s3.bucket": "from-file", "s3.path_style": "false"], origin: "f.yaml",
                    environment: ["VECTORSTREAM_S3_BUCKET": "from-env", "VECTORSTREAM_S3_ACCESS_KEY_ID": "vs-key",
                                  "AWS_ACCESS_KEY_ID": "aws-key", "AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_SESSION_TOKEN": "aws-token",
                                  "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://ignored:1"])
        #expect(c.s3.endpoint == "http://127.0.0.1:18333")  // the file wins over AWS_ENDPOINT_URL
        #expect(c.s3.bucket == "from-env")
        #expect(c.s3.accessKeyID == "vs-key")               // VECTORSTREAM_ wins over AWS_
        #expect(c.s3.secretAccessKey == "aws-secret")
        #expect(c.s3.sessionToken == "aws-token")
        #expect(c.s3.region == "eu-west-1")
        #expect(c.s3.pathStyle == false)
        #expect(c.describe("s3.region").contains("AWS_DEFAULT_REGION"))

        var aws = VectorStreamConfiguration()
        try aws.apply(file: [:], origin: "f", environment: ["AWS_ENDPOINT_URL_S3": "https://s3.example:9000", "AWS_ENDPOINT_URL": "http://x:1",
                                                            "AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "eu-west-1",
                                                            "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        #expect(aws.s3.endpoint == "https://s3.example:9000" && aws.s3.region == "ap-south-1")
        let client = S3ClientConfiguration(settings: aws.s3)
        #expect(client.credentials.accessKeyID == "a" && client.partSize == 8 << 20 && client.pathStyle == nil)
    }

    @Test func configPrintMasksTheSecretAndTheToken() throws {
        var c = VectorStreamConfiguration()
        try c.apply(file: [:], origin: "f", environment: [
            "VECTORSTREAM_S3_ENDPOINT": "http://127.0.0.1:18333", "VECTORSTREAM_S3_ACCESS_KEY_ID": "AKIDVISIBLE",
            "VECTORSTREAM_S3_SECRET_ACCESS_KEY": "s3-secret-value-1", "VECTORSTREAM_S3_SESSION_TOKEN": "s3-token-value-2",
        ])
        let text = c.rendered()
        #expect(!text.contains("s3-secret-value-1") && !text.contains("s3-token-value-2"), "\(text)")
        #expect(text.contains("secret_access_key: \"****\"") || text.contains("secret_access_key: ****"), "\(text)")
        #expect(text.contains("AKIDVISIBLE"))
        var fallback = VectorStreamConfiguration()
        try fallback.apply(file: [:], origin: "f", environment: ["AWS_SECRET_ACCESS_KEY": "aws-secret-value-3",
                                                                 "AWS_SESSION_TOKEN": "aws-token-value-4"])
        let shown = fallback.rendered()
        #expect(!shown.contains("aws-secret-value-3") && !shown.contains("aws-token-value-4"), "\(shown)")
    }

    @Test func invalidSettingsNameTheSettingAndNeverTheSecret() {
        func error(_ environment: [String: String], file: [String: String] = [:]) -> String {
            var c = VectorStreamConfiguration()
            do {
                try c.apply(file: file, origin: "f.yaml", environment: environment)
                return ""
            } catch {
                return "\(error)"
            }
        }
        let noKey = error(["VECTORSTREAM_S3_ENDPOINT": "http://127.0.0.1:18333"])
        #expect(noKey.contains("s3.access_key_id") && noKey.contains("VECTORSTREAM_S3_SECRET_ACCESS_KEY"), "\(noKey)")
        let badScheme = error(["VECTORSTREAM_S3_ENDPOINT": "ftp://host", "VECTORSTREAM_S3_ACCESS_KEY_ID": "a",
                               "VECTORSTREAM_S3_SECRET_ACCESS_KEY": "do-not-show"])
        #expect(badScheme.contains("VECTORSTREAM_S3_ENDPOINT") && !badScheme.contains("do-not-show"), "\(badScheme)")
        let smallPart = error(["VECTORSTREAM_S3_PART_SIZE_MB": "4"])
        #expect(smallPart.contains("VECTORSTREAM_S3_PART_SIZE_MB") && smallPart.contains("5...5120"), "\(smallPart)")
        let badBucket = error(["VECTORSTREAM_S3_ENDPOINT": "http://h:1", "VECTORSTREAM_S3_ACCESS_KEY_ID": "a",
                               "VECTORSTREAM_S3_SECRET_ACCESS_KEY": "b", "VECTORSTREAM_S3_BUCKET": "Bad_Bucket"])
        #expect(badBucket.contains("s3.bucket"), "\(badBucket)")
        #expect(error(["VECTORSTREAM_S3_PATH_STYLE": "sometimes"]).contains("auto, true or false"))
    }
}

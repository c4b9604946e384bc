import AsyncHTTPClient
import Foundation
import S3Client
import Testing

/// Retries, timeouts and error codes against a scripted S3 stand-in (Python's http.server): SeaweedFS cannot be
/// made to answer 503 SlowDown or 500 on demand. The stand-in answers as S3 does (XML `<Error>` documents) and
/// counts the requests it got per path.
@Suite("S3 retries and timeouts against a scripted stand-in", .serialized)
struct S3RetryTests {
    static let standin = #"""
        import sys, threading, time
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        counts, lock = {}, threading.Lock()
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n: self.rfile.read(n)
                path = self.path.split("?")[0]
                if path == "/__count":
                    return self.reply(200, str(counts.get(self.path.split("key=", 1)[1], 0)).encode())
                with lock:
                    counts[path] = counts.get(path, 0) + 1
                    c = counts[path]
                name = path.rsplit("/", 1)[-1]
                if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
                    return self.error(403, "AccessDenied", "unsigned")
                if name.startswith("flaky") and c <= 2: return self.error(503, "SlowDown", "Please reduce your request rate.")
                if name.startswith("internal") and c <= 1: return self.error(500, "InternalError", "We encountered an internal error.")
                if name.startswith("always"): return self.error(503, "SlowDown", "Please reduce your request rate.")
                if name.startswith("denied"): return self.error(403, "AccessDenied", "Access Denied")
                if name.startswith("hang"): time.sleep(20)
                self.reply(200, b"ok", {"ETag": '"e"'})
            def error(self, status, code, message):
                body = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message>'
                        '<RequestId>standin-%d</RequestId></Error>' % (code, message, status)).encode()
                self.reply(status, body, {"Content-Type": "application/xml"})
            def reply(self, status, body, headers={}):
                self.send_response(status)
                for k, v in headers.items(): self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD": self.wfile.write(body)
            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        open(sys.argv[1] + ".tmp", "w").write(str(server.server_address[1]))
        import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        server.serve_forever()
        """#

    struct Standin {
        let process: Process
        let port: Int
        init() throws {
            let portFile = S3Test.temporaryPath("standin.port")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", S3RetryTests.standin, portFile]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.standardError
            try process.run()
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: portFile) && Date() < deadline { usleep(20_000) }
            guard let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) else {
                kill(process.processIdentifier, SIGKILL)
                throw TestServices.StartFailure(description: "the S3 stand-in did not start")
            }
            try? FileManager.default.removeItem(atPath: portFile)
            self.process = process
            self.port = port
        }
        // SIGKILL: children of the test runner may have SIGTERM blocked (see redis.sh), and a stand-in holds no state.
        func stop() { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }

        func client(attempts: Int = 3, timeout: Duration = .seconds(5)) throws -> S3Client {
            try S3Client(configuration: S3ClientConfiguration(
                endpoint: "http://127.0.0.1:\(port)", bucket: "b",
                credentials: AWSCredentials(accessKeyID: "standin", secretAccessKey: "standin-secret"),
                requestTimeout: timeout, maxAttempts: attempts, retryBaseDelay: .milliseconds(10)))
        }

        func count(_ path: String) async throws -> Int {
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let text: String
            do {
                let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/__count?key=\(path)"),
                                                      timeout: .seconds(10))
                text = String(buffer: try await response.body.collect(upTo: 1024))
            } catch {
                try await http.shutdown()
                throw error
            }
            try await http.shutdown()
            return Int(text) ?? -1
        }
    }

    @Test func slowDownAndInternalErrorsAreRetriedUntilTheyPass() async throws {
        let standin = try Standin()
        defer { standin.stop() }
        let client = try standin.client()
        let put = try await client.putObject(key: "flaky-put", bytes: Array("body".utf8))
        #expect(put.etag == "\"e\"")
        #expect(try await standin.count("/b/flaky-put") == 3, "two 503 SlowDown, then success")
        #expect(try await client.getObjectBytes(key: "internal-get") == Array("ok".utf8))
        #expect(try await standin.count("/b/internal-get") == 2)
        try await client.shutdown()
    }

    @Test func retriesStopAtTheLimitAndRefusalsAreNotRetried() async throws {
        let standin = try Standin()
        defer { standin.stop() }
        let client = try standin.client(attempts: 3)
        do {
            _ = try await client.getObjectBytes(key: "always-busy")
            Issue.record("an always-503 GET succeeded")
        } catch let error as S3Error {
            #expect(error.code == "SlowDown" && error.status == 503 && error.requestID == "standin-503", "\(error)")
            #expect(error.description.contains("http://127.0.0.1:\(standin.port)") && error.description.contains("GetObject"))
        }
        #expect(try await standin.count("/b/always-busy") == 3)
        do {
            try await client.deleteObject(key: "denied-key")
            Issue.record("a refused DELETE succeeded")
        } catch let error as S3Error {
            #expect(error.code == "AccessDenied" && error.status == 403, "\(error)")
            #expect(!error.description.contains("standin-secret"))
        }
        #expect(try await standin.count("/b/denied-key") == 1, "a 403 is not retried")
        try await client.shutdown()
    }

    @Test func aServerThatDoesNotAnswerTimesOut() async throws {
        let standin = try Standin()
        defer { standin.stop() }
        let client = try standin.client(attempts: 1, timeout: .seconds(1))
        let start = ContinuousClock.now
        do {
            _ = try await client.getObjectBytes(key: "hang")
            Issue.record("a hanging GET succeeded")
        } catch let error as S3Error {
            #expect(error.code == "Timeout", "\(error)")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        try await client.shutdown()
    }

    @Test func aClosedPortIsAConnectionFailureRetriedThenReported() async throws {
        // A port nobody listens on: the stand-in's, after it stopped.
        let standin = try Standin()
        let port = standin.port
        standin.stop()
        let client = try S3Client(configuration: S3ClientConfiguration(
            endpoint: "http://127.0.0.1:\(port)", bucket: "b", credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "s"),
            requestTimeout: .seconds(1), maxAttempts: 3, retryBaseDelay: .milliseconds(10)))
        // AsyncHTTPClient itself retries a refused connect until the request's deadline: each of the 3 tries takes
        // about the timeout.
        do {
            _ = try await client.headObject(key: "k")
            Issue.record("HEAD on a closed port succeeded")
        } catch let error as S3Error {
            #expect(error.code == "ConnectionFailed" && error.status == nil, "\(error)")
            #expect(error.description.contains("127.0.0.1:\(port)"))
        }
        try await client.shutdown()
    }
}

/// `vectorstream config` with S3 settings, as a user runs it.
@Suite("S3 settings through the vectorstream command")
struct S3CommandLineTests {
    func run(_ arguments: [String], environment extra: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(S3Test.binary, "build the vectorstream binary first (swift build -c release)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("VECTORSTREAM_") && !$0.key.hasPrefix("AWS_") }
        for (k, v) in extra { environment[k] = v }
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: NSTemporaryDirectory())
        let out = S3Test.temporaryPath("cli.out"), err = S3Test.temporaryPath("cli.err")
        FileManager.default.createFile(atPath: out, contents: nil)
        FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    @Test func configPrintNeverShowsTheSecretOrTheToken() throws {
        let fromVariables = try run(["config", "--print"], environment: [
            "VECTORSTREAM_S3_ENDPOINT": "http://127.0.0.1:18333", "VECTORSTREAM_S3_ACCESS_KEY_ID": "AKIDSHOWN",
            "VECTORSTREAM_S3_SECRET_ACCESS_KEY": "cli-secret-1", "VECTORSTREAM_S3_SESSION_TOKEN": "cli-token-2",
        ])
        #expect(fromVariables.status == 0, "\(fromVariables.stderr)")
        #expect(fromVariables.stdout.contains("AKIDSHOWN") && fromVariables.stdout.contains("VECTORSTREAM_S3_SECRET_ACCESS_KEY"))
        #expect(!(fromVariables.stdout + fromVariables.stderr).contains("cli-secret-1"))
        #expect(!(fromVariables.stdout + fromVariables.stderr).contains("cli-token-2"))
        let fromAWS = try run(["config", "--print"], environment: [
            "AWS_ENDPOINT_URL": "http://127.0.0.1:18333", "AWS_ACCESS_KEY_ID": "AKIDAWS",
            "AWS_SECRET_ACCESS_KEY": "aws-cli-secret-3", "AWS_SESSION_TOKEN": "aws-cli-token-4",
        ])
        #expect(fromAWS.status == 0, "\(fromAWS.stderr)")
        #expect(fromAWS.stdout.contains("AKIDAWS"))
        #expect(!(fromAWS.stdout + fromAWS.stderr).contains("aws-cli-secret-3") && !(fromAWS.stdout + fromAWS.stderr).contains("aws-cli-token-4"))
        let keys = try run(["config", "--keys"], environment: [:])
        for name in ["s3.endpoint", "VECTORSTREAM_S3_SECRET_ACCESS_KEY", "VECTORSTREAM_S3_SESSION_TOKEN", "s3.path_style"] {
            #expect(keys.stdout.contains(name), "\(name) missing from config --keys")
        }
        let incomplete = try run(["config"], environment: ["VECTORSTREAM_S3_ENDPOINT": "http://127.0.0.1:18333",
                                                             "VECTORSTREAM_S3_SECRET_ACCESS_KEY": "cli-secret-5"])
        #expect(incomplete.status != 0)
        #expect(incomplete.stderr.contains("s3.access_key_id") && !incomplete.stderr.contains("cli-secret-5"), "\(incomplete.stderr)")
    }
}

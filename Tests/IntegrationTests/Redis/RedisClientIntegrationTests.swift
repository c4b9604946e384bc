import NIOCore
import RedisClient
import Testing
import VectorStreamCore
import VectorStreamRedis

@Suite("RedisClient against redis-server")
struct RedisClientIntegrationTests {
    @Test("basic commands in RESP3 and RESP2, binary values intact", arguments: [
        RedisClient.Configuration.ProtocolVersion.resp3, .resp2,
    ])
    func commands(version: RedisClient.Configuration.ProtocolVersion) async throws {
        var configuration = try RedisTestServer.clientConfiguration()
        configuration.protocolVersion = version
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        let p = RedisTestServer.uniquePrefix()
        #expect(try await client.negotiatedProtocol() == version)

        let binary: [UInt8] = [0, 1, 13, 10, 255, 36, 42]
        #expect(try await client.send("SET", .string(p + "bin"), .bytes(binary), "PX", 60_000) == .simpleString("OK"))
        #expect(try await client.send("GET", .string(p + "bin")).bytes == binary)
        #expect(try await client.send("GET", .string(p + "missing")).isNull)
        #expect(try await client.send("INCRBY", .string(p + "n"), 41).int == 41)
        #expect(try await client.send("INCR", .string(p + "n")).int == 42)
        try await client.send("HSET", .string(p + "h"), "a", "1", "b", "2")
        let hash = try #require(try await client.send("HGETALL", .string(p + "h")).pairs)
        #expect(Dictionary(uniqueKeysWithValues: hash.map { ($0.0.string!, $0.1.string!) }) == ["a": "1", "b": "2"])
        let script = try await client.eval("return {KEYS[1], ARGV[1], 7}", keys: [.string(p + "k")], arguments: ["v"])
        #expect(script.array?.map { $0.string } == [p + "k", "v", "7"])
        await #expect(throws: RedisError.self) { try await client.send("INCR", .string(p + "bin")) }
        // The error reply left the connection usable.
        #expect(try await client.send("PING") == .simpleString("PONG"))
        try await client.send("DEL", .string(p + "bin"), .string(p + "n"), .string(p + "h"))
    }

    @Test("a pipeline of 10,000 commands is one round trip with replies in order, errors in place")
    func pipelining() async throws {
        let client = RedisClient(configuration: try RedisTestServer.clientConfiguration())
        defer { Task { await client.close() } }
        let p = RedisTestServer.uniquePrefix()
        var commands = (0..<10_000).map { RedisCommand("SET", .string(p + "\($0)"), .integer(Int64($0) * 3), "PX", 60_000) }
        commands.insert(RedisCommand("NOSUCHCOMMAND"), at: 5000)
        let replies = try await client.pipeline(commands)
        #expect(replies.count == 10_001)
        #expect(replies.filter { $0 == .simpleString("OK") }.count == 10_000)
        guard case .error(let error) = replies[5000] else { Issue.record("expected an error at 5000"); return }
        #expect(error.code == "ERR")
        let values = try await client.pipeline((0..<10_000).map { RedisCommand("GET", .string(p + "\($0)")) })
        #expect(values.map { $0.int } == (0..<10_000).map { Int64($0) * 3 })
        _ = try await client.pipeline(stride(from: 0, to: 10_000, by: 1000).map { start in
            RedisCommand("DEL", (start..<start + 1000).map { .string(p + "\($0)") })
        })
    }

    @Test("many concurrent callers share the pool without mixing up replies")
    func poolUnderConcurrency() async throws {
        var configuration = try RedisTestServer.clientConfiguration()
        configuration.poolSize = 3
        let name = "pool-test-\(UInt32.random(in: 0...UInt32.max))"
        configuration.clientName = name
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        let p = RedisTestServer.uniquePrefix()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for i in 0..<25 {
                        let key = p + "k\(task)-\(i)"
                        let replies = try await client.pipeline([
                            RedisCommand("SET", .string(key), .string("\(task)/\(i)"), "PX", 60_000),
                            RedisCommand("GET", .string(key)),
                            RedisCommand("INCR", .string(p + "total")),
                        ])
                        #expect(replies[1].string == "\(task)/\(i)")
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await client.send("GET", .string(p + "total")).int == 64 * 25)
        let clients = try await client.send("CLIENT", "LIST").string ?? ""
        let ours = clients.split(separator: "\n").filter { $0.contains("name=\(name) ") }
        #expect(ours.count == 3, "the pool opened exactly its 3 connections: \(ours.count)")
    }

    @Test("AUTH with an ACL user; a wrong password is a handshake error that never shows the password")
    func authWithUsername() async throws {
        let admin = RedisClient(configuration: try RedisTestServer.clientConfiguration())
        defer { Task { await admin.close() } }
        let user = "vs-test-\(UInt32.random(in: 0...UInt32.max))"
        try await admin.send("ACL", "SETUSER", .string(user), "on", ">right-pass", "~*", "+@all")
        defer { Task { try? await admin.send("ACL", "DELUSER", .string(user)) } }
        let base = try RedisTestServer.url().replacingFirst("redis://", with: "")
        for version in ["2", "3"] {
            let client = RedisClient(configuration: try RedisClient.Configuration(url: "redis://\(user):right-pass@\(base)?protocol=\(version)"))
            #expect(try await client.send("ACL", "WHOAMI").string == user)
            await client.close()
        }
        let wrong = RedisClient(configuration: try RedisClient.Configuration(url: "redis://\(user):wrong-pass-xyz@\(base)"))
        do {
            try await wrong.send("PING")
            Issue.record("a wrong password was accepted")
        } catch let error as RedisClientError {
            guard case .handshakeFailed = error else { Issue.record("expected handshakeFailed, got \(error)"); return }
            #expect(!"\(error)".contains("wrong-pass-xyz"))
        }
        await wrong.close()
    }

    @Test("SELECT: a database given in the URL is used on every connection")
    func selectDatabase() async throws {
        let base = try RedisTestServer.url()
        let db5 = RedisClient(configuration: try RedisTestServer.clientConfiguration(url: base + "/5"))
        let db0 = RedisClient(configuration: try RedisTestServer.clientConfiguration(url: base))
        defer { Task { await db5.close(); await db0.close() } }
        let key = RedisTestServer.uniquePrefix() + "k"
        try await db5.send("SET", .string(key), "five", "PX", 60_000)
        #expect(try await db5.send("GET", .string(key)).string == "five")
        #expect(try await db0.send("GET", .string(key)).isNull)
    }

    @Test("a reply later than the command timeout fails that call with a timeout; the client recovers")
    func commandTimeout() async throws {
        var configuration = try RedisTestServer.clientConfiguration()
        configuration.commandTimeout = .milliseconds(200)
        configuration.poolSize = 1
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        let key = RedisTestServer.uniquePrefix() + "empty-list"
        do {
            try await client.send("BLPOP", .string(key), 2)  // blocks server-side for 2 s
            Issue.record("BLPOP returned before its timeout")
        } catch let error as RedisClientError {
            guard case .timeout(_, let command, _) = error else { Issue.record("expected timeout, got \(error)"); return }
            #expect(command == "BLPOP")
        }
        #expect(try await client.send("PING") == .simpleString("PONG"))
    }

    @Test("unreachable server: a clear error naming the endpoint, fast failures while backing off, health down")
    func unreachable() async throws {
        var configuration = try RedisClient.Configuration(url: "redis://:secret-pw@127.0.0.1:\(RedisTestServer.unusedPort)")
        configuration.reconnectInitialBackoff = .seconds(30)
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close() } }
        for attempt in 0..<3 {
            do {
                try await client.send("PING")
                Issue.record("PING succeeded against a closed port")
            } catch let error as RedisClientError {
                let text = "\(error)"
                #expect(text.contains("127.0.0.1:\(RedisTestServer.unusedPort)"), "\(text)")
                #expect(text.contains("unreachable"), "\(text)")
                #expect(text.lowercased().contains("refused"), "\(text)")
                #expect(!text.contains("secret-pw"))
                if attempt > 0 { #expect(text.contains("next attempt in"), "backing off: \(text)") }
            }
        }
        let health = await RedisHealth(client: client).checkHealth()
        guard case .down(let reason) = health else { Issue.record("health should be down, is \(health)"); return }
        #expect(reason.contains("unreachable"))
    }

    @Test("the server restarting: calls fail with a clear error while it is down, then work again")
    func reconnectAfterRestart() async throws {
        let url = try RedisTestServer.startInstance("client-restart", port: 16392)
        var configuration = try RedisTestServer.clientConfiguration(url: url)
        configuration.reconnectMaxBackoff = .milliseconds(200)
        configuration.poolSize = 2
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.close(); try? RedisTestServer.stopInstance("client-restart") } }
        try await client.send("SET", "survives", "yes")
        #expect(await RedisHealth(client: client).checkHealth() == .ok)

        try RedisTestServer.stopInstance("client-restart")
        await #expect(throws: RedisClientError.self) { try await client.send("GET", "survives") }
        guard case .down = await RedisHealth(client: client).checkHealth() else { Issue.record("health not down"); return }

        _ = try RedisTestServer.startInstance("client-restart", port: 16392)
        var value: RESPValue?
        for _ in 0..<50 where value == nil {
            value = try? await client.send("GET", "survives")
            if value == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(value?.string == "yes", "reconnected and the persistent instance kept the key")
        #expect(await RedisHealth(client: client).checkHealth() == .ok)
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = firstRange(of: target) else { return self }
        return String(self[..<r.lowerBound]) + replacement + String(self[r.upperBound...])
    }
}

import Testing

@testable import RedisClient

@Suite("Redis URL parsing")
struct ConfigurationTests {
    @Test("host, port, user, password, database and TLS from the URL")
    func full() throws {
        let c = try RedisClient.Configuration(url: "rediss://app:s%40cret%3A@cache.example.com:6380/3")
        #expect(c.host == "cache.example.com")
        #expect(c.port == 6380)
        #expect(c.username == "app")
        #expect(c.password == "s@cret:")
        #expect(c.database == 3)
        #expect(c.tls != nil)
        #expect(c.endpoint == "cache.example.com:6380")
    }

    @Test("defaults: no auth, port 6379, database 0, plain TCP, RESP3")
    func minimal() throws {
        let c = try RedisClient.Configuration(url: "redis://localhost")
        #expect(c.host == "localhost" && c.port == 6379 && c.database == 0)
        #expect(c.username == nil && c.password == nil && c.tls == nil)
        #expect(c.protocolVersion == .resp3)
    }

    @Test("password-only forms, IPv6 and query parameters")
    func variants() throws {
        let a = try RedisClient.Configuration(url: "redis://:pw@127.0.0.1:16379/0")
        #expect(a.username == nil && a.password == "pw" && a.port == 16379)
        let b = try RedisClient.Configuration(url: "redis://pw@host")
        #expect(b.username == nil && b.password == "pw")
        let c = try RedisClient.Configuration(url: "redis://[::1]:7000?protocol=2&db=5")
        #expect(c.host == "::1" && c.port == 7000 && c.protocolVersion == .resp2 && c.database == 5)
        #expect(c.endpoint == "[::1]:7000")
    }

    @Test("bad URLs are rejected with a reason that never shows the password",
          arguments: ["http://x:secretpw@host", "redis://x:secretpw@host:99999", "redis://x:secretpw@host/abc",
                      "redis://x:secretpw@host?foo=1", "x:secretpw@host", "redis://x:secretpw@host?protocol=4"])
    func invalid(url: String) {
        do {
            _ = try RedisClient.Configuration(url: url)
            Issue.record("accepted \(url)")
        } catch {
            #expect(!"\(error)".contains("secretpw"))
            #expect(error is RedisClientError)
        }
    }
}

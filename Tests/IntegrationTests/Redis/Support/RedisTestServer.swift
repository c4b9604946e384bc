import Foundation
import RedisClient
import VectorStreamRedis

/// The shared test redis-server (scripts/services/redis.sh), and private instances for restart tests.
enum RedisTestServer {
    static func url() throws -> String {
        try TestServices.url("redis", environmentVariable: "VECTORSTREAM_TEST_REDIS_URL")
    }

    /// A key prefix no other test uses, so tests run in parallel on one server.
    static func uniquePrefix(_ name: String = #function) -> String {
        var random = SystemRandomNumberGenerator()
        let clean = name.prefix { $0 != "(" }
        return "test:\(clean):\(String(random.next() as UInt64, radix: 36)):"
    }

    static func clientConfiguration(url: String? = nil) throws -> RedisClient.Configuration {
        var configuration = try RedisClient.Configuration(url: url ?? self.url())
        configuration.commandTimeout = .seconds(20)
        configuration.connectTimeout = .seconds(10)  // the test machine is shared and often saturated
        return configuration
    }

    static func storeConfiguration(url: String? = nil, prefix: String) throws -> RedisStoreConfiguration {
        var configuration = RedisStoreConfiguration(client: try clientConfiguration(url: url))
        configuration.keyPrefix = prefix
        return configuration
    }

    /// A separate persistent server that a test may stop and start (the shared one must stay up).
    static func startInstance(_ name: String, port: Int) throws -> String {
        try TestServices.run(script: "scripts/services/redis.sh", arguments: ["start-instance", name, String(port)])
    }

    static func stopInstance(_ name: String) throws {
        try TestServices.run(script: "scripts/services/redis.sh", arguments: ["stop-instance", name])
    }

    /// A local port with nothing listening (bound, then released).
    static let unusedPort = 1
}

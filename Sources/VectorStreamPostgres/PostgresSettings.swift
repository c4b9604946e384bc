import Foundation
import NIOSSL
import PostgresNIO
import VectorStreamCore

/// Where the metrics history lives, parsed from `postgres.url`
/// (`postgres://user:password@host:port/db?sslmode=disable|require`). The password stays in here and in the
/// client's configuration: `description` masks it, and no error repeats it.
public struct PostgresEndpoint: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    var password: String?
    public var database: String
    /// `sslmode=require`: TLS or no connection. `disable` (the default here, as on loopback) never tries TLS.
    public var requireTLS: Bool

    /// Refusals name the setting and never show the password.
    public init(url: String, setting: String = "postgres.url") throws {
        let masked = VectorStreamConfiguration.maskURL(url)
        guard let c = URLComponents(string: url), let scheme = c.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw ConfigurationError("\(setting): '\(masked)' is not a postgres:// URL "
                                     + "(postgres://user:password@host:5432/db?sslmode=disable)")
        }
        guard let host = c.host, !host.isEmpty else { throw ConfigurationError("\(setting): '\(masked)' names no host") }
        guard let user = c.user, !user.isEmpty else { throw ConfigurationError("\(setting): '\(masked)' names no user") }
        self.host = host
        port = c.port ?? 5432
        self.user = user
        password = c.password
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = path.isEmpty ? user : path
        var tls = false
        for item in c.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                switch item.value ?? "" {
                case "disable": tls = false
                case "require": tls = true
                default:
                    throw ConfigurationError("\(setting): sslmode=\(item.value ?? "") is not supported; use sslmode=disable or sslmode=require")
                }
            default:
                throw ConfigurationError("\(setting): unknown parameter '\(item.name)' (only sslmode is read)")
            }
        }
        requireTLS = tls
    }

    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":****")@\(host):\(port)/\(database)?sslmode=\(requireTLS ? "require" : "disable")"
    }

    /// The client's configuration: few connections (one writer, the API's reads, maintenance).
    public func clientConfiguration() -> PostgresClient.Configuration {
        var config = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database,
            tls: requireTLS ? .require(.makeClientConfiguration()) : .disable)
        config.options.maximumConnections = 4
        config.options.connectionIdleTimeout = .seconds(60)
        // The history's queries read a few thousand rows: starting parallel workers (or JIT) for them costs more
        // than the query (tens of ms on a busy machine), and the planner, seeing parameters, overestimates.
        config.options.additionalStartupParameters = [("application_name", "vectorstream"),
                                                      ("max_parallel_workers_per_gather", "0"), ("jit", "off")]
        return config
    }
}

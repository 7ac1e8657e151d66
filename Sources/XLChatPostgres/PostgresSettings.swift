// Where the shared store is: a libpq-style connection string plus the PG* environment.
import Foundation
import NIOCore
import PostgresNIO
import XLChatIndex

/// The connection settings of a PostgreSQL store, following libpq's conventions: a URI
/// (`postgres://user:password@host:port/database?host=/socket/dir&sslmode=disable`) whose parts
/// win over the `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and `PGDATABASE` variables, which win
/// over libpq's defaults (host `localhost`, port 5432, user = the login name, database = user).
/// A host starting with `/` is the directory of the server's unix socket (`.s.PGSQL.<port>`).
/// The environment is passed in (the server's `ServerConfiguration` is the one reader).
public struct PostgresSettings: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Throws `storeUnavailable` for a string that is not a postgres URI or asks for TLS
    /// (`sslmode=require|verify-*`; not supported yet: the store is for a team's own network).
    public init(url: String, environment: [String: String] = [:]) throws {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw IndexError(.storeUnavailable, "the store \(url.debugDescription) is not a postgres:// connection string")
        }
        func env(_ k: String) -> String? { environment[k].flatMap { $0.isEmpty ? nil : $0 } }
        let params = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        host = params["host"].flatMap { $0.isEmpty ? nil : $0 } ?? c.host.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding } ?? env("PGHOST") ?? "localhost"
        port = c.port ?? params["port"].flatMap(Int.init) ?? env("PGPORT").flatMap(Int.init) ?? 5432
        user = c.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding } ?? params["user"] ?? env("PGUSER") ?? env("USER") ?? "postgres"
        password = c.password?.removingPercentEncoding ?? params["password"] ?? env("PGPASSWORD")
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = (path.isEmpty ? nil : path.removingPercentEncoding) ?? params["dbname"] ?? env("PGDATABASE") ?? user
        let ssl = params["sslmode"] ?? env("PGSSLMODE") ?? "prefer"
        guard ["disable", "allow", "prefer"].contains(ssl) else {
            throw IndexError(.storeUnavailable, "sslmode=\(ssl) is not supported yet: use a store on a trusted network with sslmode=disable")
        }
    }

    public init(host: String, port: Int, user: String, password: String?, database: String) {
        self.host = host; self.port = port; self.user = user; self.password = password; self.database = database
    }

    /// The same server and database as another role.
    func `as`(user: String, password: String?) -> PostgresSettings {
        PostgresSettings(host: host, port: port, user: user, password: password, database: database)
    }

    /// Without the password.
    public var description: String {
        "postgres://\(user)@\(host.hasPrefix("/") ? "[\(host)]" : host):\(port)/\(database)"
    }

    var connectionConfiguration: PostgresConnection.Configuration {
        var c: PostgresConnection.Configuration
        if host.hasPrefix("/") {
            c = .init(unixSocketPath: host + "/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            c = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        c.options.connectTimeout = .seconds(5)
        return c
    }
}

import Foundation
import FWXPostgres
import Testing

@Suite("PostgreSQL URL and password file")
struct PostgresURLTests {
    @Test("a libpq URL is read into host, port, user, database and TLS settings")
    func parsesLibpqURL() throws {
        let url = try PostgresURL(parsing:
            "postgresql://fwx@db.example.nl:6432/fwx_nl?sslmode=verify-full&sslrootcert=/etc/fwx/pg-ca.pem&connect_timeout=3")
        #expect(url.user == "fwx")
        #expect(url.host == "db.example.nl")
        #expect(url.port == 6432)
        #expect(url.database == "fwx_nl")
        #expect(url.sslMode == .verifyFull)
        #expect(url.sslRootCertificate == "/etc/fwx/pg-ca.pem")
        #expect(url.connectTimeoutSeconds == 3)

        let short = try PostgresURL(parsing: "postgres://fwx%40nl@[::1]/fwx%5Fnl")
        #expect(short.user == "fwx@nl")
        #expect(short.host == "::1")
        #expect(short.port == 5432)
        #expect(short.database == "fwx_nl")
        #expect(short.sslMode == .prefer, "libpq's default sslmode")
        #expect(try PostgresURL(parsing: short.description) == short, "the normal form reads back the same")
    }

    @Test("a URL with a password is refused, telling to use passwordFile, without repeating it")
    func refusesPasswordInURL() {
        for text in ["postgresql://fwx:s3cret-value@127.0.0.1:5432/fwx_nl",
                     "postgresql://fwx@127.0.0.1:5432/fwx_nl?password=s3cret-value"] {
            let error = #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: text) }
            #expect(error?.code == .invalidURL)
            #expect(error?.description.contains("passwordFile") == true)
            #expect(error?.description.contains("s3cret") == false)
        }
    }

    @Test("malformed URLs are refused with a message naming the part to fix",
          arguments: [
              ("mysql://fwx@127.0.0.1/fwx", "postgresql://"),
              ("postgresql://127.0.0.1:5432/fwx", "user"),
              ("postgresql://fwx@127.0.0.1:5432", "database"),
              ("postgresql://fwx@127.0.0.1:5432/", "database"),
              ("postgresql://fwx@127.0.0.1:99999/fwx", "port"),
              ("postgresql://fwx@:5432/fwx", "host"),
              ("postgresql://fwx@a,b/fwx", "several hosts"),
              ("postgresql://fwx@127.0.0.1/fwx?sslmode=allow", "sslmode"),
              ("postgresql://fwx@127.0.0.1/fwx?target_session_attrs=any", "target_session_attrs"),
              ("postgresql://fwx@127.0.0.1/fwx?sslmode=require&sslmode", "without a value"),
              ("postgresql://fwx@127.0.0.1/fwx?sslrootcert=/ca.pem", "verify-full"),
          ])
    func refusesMalformedURL(text: String, mentions: String) {
        let error = #expect(throws: PostgresStoreError.self) { try PostgresURL(parsing: text) }
        #expect(error?.code == .invalidURL)
        #expect(error?.message.contains(mentions) == true, "\(error?.message ?? "")")
    }

    @Test("the password file is one line; a missing or empty one is refused; the password is never shown")
    func passwordFile() throws {
        try withTemporaryDirectory { folder in
            let good = try writeFile(folder, "password", "p4ss-w0rd\n")
            let password = try PostgresPassword(file: good)
            #expect(!"\(password)".contains("p4ss"))
            let configuration = try PostgresDatabaseConfiguration(
                url: "postgresql://fwx@127.0.0.1:5432/fwx_nl?sslmode=disable", passwordFile: good, poolSize: 3)
            #expect(configuration.poolSize == 3)
            #expect(!"\(configuration)".contains("p4ss"))

            let empty = try writeFile(folder, "empty", "\n")
            let twoLines = try writeFile(folder, "two", "a\nb\n")
            for path in [empty, twoLines, folder.appendingPathComponent("missing").path] {
                let error = #expect(throws: PostgresStoreError.self) { try PostgresPassword(file: path) }
                #expect(error?.code == .passwordFile)
                #expect(error?.message.contains(path) == true)
            }
            let badPool = #expect(throws: PostgresStoreError.self) {
                try PostgresDatabaseConfiguration(url: "postgresql://fwx@127.0.0.1/fwx_nl", passwordFile: good,
                                                  poolSize: 0)
            }
            #expect(badPool?.message.contains("poolSize") == true)
        }
    }
}

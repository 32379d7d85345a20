/// The node store's PostgreSQL schema, as versioned migrations for ``PostgresStoreDatabase/migrate(_:)``.
///
/// Migration 1 is the PostgreSQL translation of the SQLite store's schema (`SQLiteNodeStore.migrator`, v1 to v3),
/// adapted for several writing processes (``PostgresNodeStore`` and the store contract in FWXStore's `NodeStore`):
/// - times are epoch seconds as `DOUBLE PRECISION` everywhere, as in the SQLite store;
/// - blobs are `BYTEA`; identities are `BIGINT GENERATED ALWAYS AS IDENTITY`; record ids compare byte-wise
///   (`COLLATE "C"`), so record id order (facts pages, id lists, search hits) is the SQLite store's whatever the
///   database's locale;
/// - feed positions (`revisions.seq`, copied to `records.seq`) are `BIGINT` values the store assigns itself in
///   commit order, not a sequence (a sequence value is taken at insert and commits out of order, so a page could
///   skip a record for good): `fwx_feed_clock` is a one-row counter a writer increments as the last step before
///   COMMIT; its row lock serialises only that step (docs/scale-out.md);
/// - a batch keeps its record outcomes (JSON) and, once the caller has signed it after the commit, its receipt
///   (NULL until then), so a replay is answered before the receipt exists;
/// - the outbox and the pull cursors carry lease columns (`holder`, `lease_token`, `lease_until`) so one process at a
///   time works on an entry or a peer, and changes only while it still holds the lease; a pull cursor moves by
///   compare-and-set (`cursor_version` counts its moves);
/// - batch id and (sender country, agency, sequence number) are unique constraints, claimed first by an ingest
///   (`INSERT ... ON CONFLICT DO NOTHING`), so a concurrent duplicate waits for the first and then sees it;
/// - the audit trail is append-only, enforced by triggers (UPDATE, DELETE and TRUNCATE raise SQLSTATE FX001).
///
/// This schema may still change until PostgresNodeStore is released: until then no database outside the tests uses
/// it, so migration 1 may be edited. Once released, a migration is never edited; changes are new migrations.
public enum PostgresNodeSchema {
    public static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "node store: batches, revisions, records, outbox, pulls, audit, facts, keys",
                          statements: version1),
    ]

    static let version1: [String] = [
        """
        CREATE TABLE batches (
            batch_id TEXT PRIMARY KEY,
            sender_country TEXT NOT NULL,
            sender_agency TEXT NOT NULL,
            sequence_number BIGINT NOT NULL,
            digest TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            caller_country TEXT NOT NULL,
            caller_fingerprint TEXT NOT NULL,
            record_count INTEGER NOT NULL,
            signed_batch BYTEA NOT NULL,
            receipt BYTEA,
            outcomes BYTEA,
            CONSTRAINT batches_sender_sequence UNIQUE (sender_country, sender_agency, sequence_number)
        )
        """,
        """
        CREATE TABLE fwx_feed_clock (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            position BIGINT NOT NULL
        )
        """,
        "INSERT INTO fwx_feed_clock (id, position) VALUES (1, 0)",
        """
        CREATE TABLE revisions (
            seq BIGINT PRIMARY KEY,
            record_id TEXT COLLATE "C" NOT NULL,
            revision BIGINT NOT NULL,
            origin_country TEXT NOT NULL,
            batch_id TEXT REFERENCES batches(batch_id),
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            handling_code TEXT NOT NULL,
            recipients TEXT NOT NULL,
            xml TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            CONSTRAINT revisions_record_revision UNIQUE (record_id, revision)
        )
        """,
        """
        CREATE TABLE records (
            record_id TEXT COLLATE "C" PRIMARY KEY,
            origin_country TEXT NOT NULL,
            revision BIGINT NOT NULL,
            seq BIGINT NOT NULL UNIQUE REFERENCES revisions(seq),
            status TEXT NOT NULL,
            handling_code TEXT NOT NULL,
            audience TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX records_feed ON records (origin_country, seq)",
        """
        CREATE TABLE outbox (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            peer TEXT NOT NULL,
            batch_id TEXT NOT NULL REFERENCES batches(batch_id),
            state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            last_error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            delivered_at DOUBLE PRECISION,
            receipt BYTEA,
            holder TEXT,
            lease_token UUID,
            lease_until DOUBLE PRECISION,
            CONSTRAINT outbox_peer_batch UNIQUE (peer, batch_id),
            CHECK ((lease_token IS NULL) = (lease_until IS NULL))
        )
        """,
        "CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE state = 'queued'",
        """
        CREATE TABLE pulls (
            peer TEXT PRIMARY KEY,
            cursor TEXT,
            cursor_version BIGINT NOT NULL DEFAULT 0,
            last_success_at DOUBLE PRECISION,
            last_attempt_at DOUBLE PRECISION,
            last_error TEXT,
            records_pulled BIGINT NOT NULL DEFAULT 0,
            holder TEXT,
            lease_token UUID,
            lease_until DOUBLE PRECISION,
            CHECK ((lease_token IS NULL) = (lease_until IS NULL))
        )
        """,
        """
        CREATE TABLE audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            caller_country TEXT NOT NULL,
            caller_fingerprint TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            result TEXT NOT NULL,
            detail TEXT
        )
        """,
        "CREATE INDEX audit_at ON audit (at)",
        """
        CREATE FUNCTION fwx_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only' USING ERRCODE = 'FX001';
        END
        $$
        """,
        """
        CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
            FOR EACH ROW EXECUTE FUNCTION fwx_audit_append_only()
        """,
        """
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
            FOR EACH STATEMENT EXECUTE FUNCTION fwx_audit_append_only()
        """,
        """
        CREATE TABLE latest_facts (
            record_id TEXT COLLATE "C" PRIMARY KEY REFERENCES records(record_id),
            facts BYTEA NOT NULL
        )
        """,
        """
        CREATE TABLE record_keys (
            key TEXT NOT NULL,
            record_id TEXT COLLATE "C" NOT NULL REFERENCES records(record_id),
            PRIMARY KEY (key, record_id)
        )
        """,
        "CREATE INDEX record_keys_record ON record_keys (record_id)",
    ]
}

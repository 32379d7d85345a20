#!/usr/bin/env python3
"""Feed positions on PostgreSQL with several writers: which scheme never lets a page skip a record (issue 14, item 1).

Usage: scripts/bench_feed_positions.py --url postgresql://USER@127.0.0.1:PORT/DB [--writers 4] [--seconds 20]
                                       [--rows 50] [--rounds 2]
Needs psycopg2 (pip install psycopg2-binary) and a PostgreSQL server the URL reaches (scripts/pg-cluster makes one).

A partner pages a node's feed with a cursor: "entries after position P, in position order". With one writer
(SQLite) positions are handed out in commit order. With several writers on PostgreSQL they are not, and a page read
while a lower position is still uncommitted moves the cursor past it for good. Three schemes, each run the same way
in turns (--rounds times): --writers threads commit batches of --rows feed rows for --seconds (each transaction
also writes --rows rows to a second table, the store's other work for a batch) while one reader pages the feed
(LIMIT 100) from position 0 with its cursor, without pause; when the writers stop it reads to the end. Printed per
scheme and round: rows committed per second, reader pages, rows seen twice, rows never seen (skipped), and the
lag from a row's insert to its being read (p50, p99).

  naive         position = nextval() at insert, read `WHERE pos > cursor ORDER BY pos`: what a direct port of the
                SQLite store would do.
  commit-lock   the batch's other work first; then pg_advisory_xact_lock(feed) and the feed rows with nextval(),
                then COMMIT: the lock is held from taking positions to the commit, so positions are in commit order
                (PostgreSQL makes a commit visible before it releases the transaction's locks). Costs: the tail of
                each write transaction, commit included, is serialised.
  xid-horizon   each row keeps its transaction id (pg_current_xact_id()); the feed is ordered by (xid, pos) and
                serves only rows whose xid is below the reader's snapshot xmin (pg_snapshot_xmin), the oldest
                transaction still running: no row can appear below that point any more. Costs: a long write
                transaction holds the feed back for everyone; positions are (xid, pos) pairs.
"""
import argparse
import random
import statistics
import sys
import threading
import time

try:
    import psycopg2
except ImportError:
    sys.exit("bench_feed_positions needs psycopg2: pip install psycopg2-binary")

SCHEMES = ["naive", "commit-lock", "xid-horizon"]
FEED_LOCK = 7_462_001


def setup(url):
    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("""
            DROP TABLE IF EXISTS bench_feed, bench_other;
            DROP SEQUENCE IF EXISTS bench_feed_pos;
            CREATE SEQUENCE bench_feed_pos;
            CREATE TABLE bench_feed (pos bigint NOT NULL, xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
                                     writer int NOT NULL, batch int NOT NULL, n int NOT NULL,
                                     at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text NOT NULL);
            CREATE INDEX bench_feed_by_pos ON bench_feed (pos);
            CREATE INDEX bench_feed_by_xid_pos ON bench_feed (xid, pos);
            CREATE TABLE bench_other (writer int, batch int, n int, payload text);
        """)
    connection.close()


def writer(url, scheme, index, rows, stop, committed):
    connection = psycopg2.connect(url)
    payload = "x" * 400
    batch = 0
    feed_insert = ("INSERT INTO bench_feed (pos, writer, batch, n, payload) "
                   "SELECT nextval('bench_feed_pos'), %s, %s, g, %s FROM generate_series(1, %s) g")
    other_insert = "INSERT INTO bench_other SELECT %s, %s, g, %s FROM generate_series(1, %s) g"
    with connection.cursor() as cursor:
        while not stop.is_set():
            batch += 1
            if scheme == "commit-lock":
                cursor.execute(other_insert, (index, batch, payload, rows))
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
                cursor.execute(feed_insert, (index, batch, payload, rows))
            else:
                cursor.execute(feed_insert, (index, batch, payload, rows))
                cursor.execute(other_insert, (index, batch, payload, rows))
            if random.random() < 0.2:
                time.sleep(0.002)  # a batch whose other work takes a little longer
            connection.commit()
            committed[index] = batch
    connection.close()


def page(cursor, scheme, position, limit=100):
    if scheme == "xid-horizon":
        xid, pos = position
        # The horizon first, as a constant: with the function in the page's query the planner sorts the whole
        # range instead of walking the (xid, pos) index in order.
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        horizon = cursor.fetchone()[0]
        cursor.execute("""
            SELECT xid::text AS xid_text, pos, writer, batch, n, extract(epoch FROM clock_timestamp() - at)
            FROM bench_feed
            WHERE (xid, pos) > (%s::xid8, %s) AND xid < %s::xid8
            ORDER BY bench_feed.xid, pos LIMIT %s""", (xid, pos, horizon, limit))
        rows = cursor.fetchall()
        return rows, ((rows[-1][0], rows[-1][1]) if rows else position)
    cursor.execute("""SELECT 0, pos, writer, batch, n, extract(epoch FROM clock_timestamp() - at) FROM bench_feed
                      WHERE pos > %s ORDER BY pos LIMIT %s""", (position, limit))
    rows = cursor.fetchall()
    return rows, (rows[-1][1] if rows else position)


def reader(url, scheme, stop, result):
    connection = psycopg2.connect(url)
    connection.autocommit = True
    position = ("0", 0) if scheme == "xid-horizon" else 0
    seen, twice, lags, pages = set(), 0, [], 0
    with connection.cursor() as cursor:
        idle_after_stop = 0
        while True:
            rows, position = page(cursor, scheme, position)
            pages += 1
            for _, _, w, b, n, lag in rows:
                key = (w, b, n)
                if key in seen:
                    twice += 1
                seen.add(key)
                lags.append(float(lag))
            if stop.is_set() and not rows:
                idle_after_stop += 1
                if idle_after_stop >= 3:
                    break
                time.sleep(0.05)
    connection.close()
    result.update(seen=seen, twice=twice, lags=lags, pages=pages)


def run_scheme(url, scheme, writers, seconds, rows):
    setup(url)
    stop, reader_stop = threading.Event(), threading.Event()
    committed = [0] * writers
    result = {}
    read = threading.Thread(target=reader, args=(url, scheme, reader_stop, result))
    threads = [threading.Thread(target=writer, args=(url, scheme, i, rows, stop, committed)) for i in range(writers)]
    read.start()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    reader_stop.set()
    read.join()
    expected = {(w, b, n) for w in range(writers) for b in range(1, committed[w] + 1) for n in range(1, rows + 1)}
    skipped = len(expected - result["seen"])
    lags = sorted(result["lags"])
    p = lambda q: lags[min(len(lags) - 1, int(q * (len(lags) - 1)))] * 1000 if lags else float("nan")  # noqa: E731
    return dict(rows_per_s=len(expected) / elapsed, committed=len(expected), pages=result["pages"],
                twice=result["twice"], skipped=skipped, lag_p50=p(0.5), lag_p99=p(0.99))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="comma-separated, of: " + ", ".join(SCHEMES))
    args = parser.parse_args()
    print(f"{args.writers} writers, {args.rows} feed rows per transaction, {args.seconds:.0f} s per run; one reader "
          f"paging 100 at a time")
    print(f"{'scheme':12} {'round':>5} {'rows/s':>8} {'committed':>9} {'pages':>6} {'twice':>6} {'skipped':>8} "
          f"{'lag p50':>8} {'lag p99':>8}")
    failed = False
    for round_ in range(1, args.rounds + 1):
        for scheme in args.schemes.split(","):
            r = run_scheme(args.url, scheme, args.writers, args.seconds, args.rows)
            print(f"{scheme:12} {round_:>5} {r['rows_per_s']:8.0f} {r['committed']:9} {r['pages']:6} {r['twice']:6} "
                  f"{r['skipped']:8} {r['lag_p50']:6.1f}ms {r['lag_p99']:6.1f}ms", flush=True)
            if scheme != "naive" and (r["skipped"] or r["twice"]):
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

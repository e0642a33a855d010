#!/usr/bin/env python3
"""The directory at scale: GET /users pages and searches at N users (default
1,000,000) side by side with the same requests at 1,000 users, on SQLite and
on PostgreSQL, in one run.

Seeding: one user is registered through the API (the viewer, whose argon2
hash every seeded user shares), then N-1 users and their profiles are
inserted by SQL in one statement each, as the service writes them (the
normalised columns filled, triggers keeping the count and the search index
in step). Seconds, not minutes.

Measured with wrk (-t1, --connections clients, --duration seconds each, the
median of --repeat runs), and single-request latency as wrk's median at one
connection:
  profile read      GET /users/{id}/profile
  first page        GET /users
  cursor 50k deep   GET /users?cursor=<50,000 users in>
  offset 99.9%      GET /users?offset=<N*0.999> (999,000 at 1M)
  rare search       GET /users?search=98765
  common search     GET /users?search=777
  reads while paged profile reads while 4 more clients fetch first pages
and `portrait check`'s peak RSS (GNU time).

Usage: bench/scale.py [--users 1000000] [--duration 5] [--repeat 1]
                      [--connections 32] [--postgres URL] [--only sqlite|postgres]
Build first: cargo build --release --features bench-tools --bins
"""

import argparse
import datetime
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import PASSWORD, call, json_post  # noqa: E402
from load import Portrait, local_postgres, wrk  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORTRAIT = os.path.join(ROOT, "target", "release", "portrait")
VIEWER = "viewer"


def now_text():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def seed_sqlite(path, users):
    """N-1 users after the viewer, with profiles, in two statements."""
    conn = sqlite3.connect(path)
    (password_hash,) = conn.execute("SELECT password_hash FROM users WHERE username = ?", (VIEWER,)).fetchone()
    stamp = now_text()
    conn.execute("PRAGMA journal_mode=WAL")
    with conn:
        conn.execute(
            """WITH RECURSIVE seq(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
               INSERT INTO users (username, username_normalized, email, email_normalized,
                                  password_hash, is_active, is_staff, is_superuser, date_joined, token_version)
               SELECT 'user' || n, 'user' || n, 'user' || n || '@example.com', 'user' || n || '@example.com',
                      ?, 1, 0, 0, ?, 0 FROM seq""",
            (users, password_hash, stamp),
        )
        conn.execute(
            """INSERT INTO profiles (user_id, image, image_width, image_height, bio, updated_at)
               SELECT id, 'default.jpg', 300, 300, '', ? FROM users
               WHERE id NOT IN (SELECT user_id FROM profiles)""",
            (stamp,),
        )
    conn.execute("ANALYZE")
    conn.close()


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, capture_output=True)


def seed_postgres(url, users):
    psql(url, f"""
        INSERT INTO users (username, username_normalized, email, email_normalized,
                           password_hash, is_active, is_staff, is_superuser, date_joined, token_version)
        SELECT 'user' || n, 'user' || n, 'user' || n || '@example.com', 'user' || n || '@example.com',
               (SELECT password_hash FROM users WHERE username = '{VIEWER}'),
               TRUE, FALSE, FALSE, now() AT TIME ZONE 'UTC', 0
        FROM generate_series(2, {users}) AS n;
        INSERT INTO profiles (user_id, image, image_width, image_height, bio, updated_at)
        SELECT id, 'default.jpg', 300, 300, '', now() AT TIME ZONE 'UTC' FROM users
        WHERE id NOT IN (SELECT user_id FROM profiles);""")
    # (VACUUM cannot run in the transaction psql -c makes of the above.)
    psql(url, "VACUUM ANALYZE users")
    psql(url, "VACUUM ANALYZE profiles")
    psql(url, "VACUUM ANALYZE username_trigrams")
    psql(url, "VACUUM ANALYZE username_fivegrams")
    psql(url, "VACUUM ANALYZE username_fivegram_counts")


def fresh_postgres_database(admin_url, name):
    psql(admin_url, f"DROP DATABASE IF EXISTS {name}")
    psql(admin_url, f"CREATE DATABASE {name}")
    parsed = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit(parsed._replace(path=f"/{name}"))


def database_bytes(backend, database_url, work):
    """The database's size on disk: tables, indexes, search index, WAL."""
    if backend == "sqlite":
        return sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work) if f.startswith("scale.sqlite3"))
    out = subprocess.run(["psql", "-tA", database_url, "-c", "SELECT pg_database_size(current_database())"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def sign_in(port):
    status, tokens = json_post(port, "/auth/token", {"username": VIEWER, "password": PASSWORD})
    assert status == 200, (status, tokens)
    return tokens["access_token"]


def cursor_at(port, token, depth):
    """The cursor URL (path and query) of the page `depth` users in."""
    path, walked = "/users?cursor=&limit=100", 0
    while walked < depth:
        status, body = call(port, "GET", path, headers={"Authorization": f"Bearer {token}"})
        assert status == 200, status
        page = json.loads(body)
        walked += len(page["results"])
        if not page["next"]:
            break
        path = urllib.parse.urlsplit(page["next"])._replace(scheme="", netloc="").geturl()
    # Walked 100 at a time; measured at the default page size, as the others.
    return path.replace("limit=100", "limit=20")


def latency_ms(url, token, duration):
    """wrk's median latency at one connection, in ms."""
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{duration}s", "--latency", *auth, url],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "50%":
            value, unit = float(parts[1][:-2] if parts[1].endswith(("us", "ms")) else parts[1][:-1]), parts[1][-2:]
            return round(value / 1000 if unit == "us" else value if unit == "ms" else value * 1000, 2)
    raise RuntimeError(out)


def check_rss(database_url, media):
    out = subprocess.run(["/usr/bin/time", "-v", PORTRAIT, "check"], capture_output=True, text=True,
                         env={**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": media, "RUST_LOG": "warn"})
    rss_kb = next(int(line.split()[-1]) for line in out.stderr.splitlines() if "Maximum resident" in line)
    elapsed = next(line.split()[-1] for line in out.stderr.splitlines() if "Elapsed (wall" in line)
    return {"exit": out.returncode, "peak_rss_mb": round(rss_kb / 1024, 1), "elapsed": elapsed}


def measure_size(backend, users, args, admin_url):
    work = tempfile.mkdtemp(prefix=f"scale-{backend}-{users}-")
    if backend == "sqlite":
        database_url = f"sqlite://{work}/scale.sqlite3"
    else:
        database_url = fresh_postgres_database(admin_url, f"portrait_scale_{users}")
    env = {"DATABASE_TIMEOUT": "10"}
    server = Portrait(database_url, work, env)
    status, _ = json_post(server.port, "/users",
                          {"username": VIEWER, "email": "viewer@example.com", "password": PASSWORD})
    assert status == 201, status
    server.stop()
    started = time.monotonic()
    if backend == "sqlite":
        seed_sqlite(f"{work}/scale.sqlite3", users)
    else:
        seed_postgres(database_url, users)
    seeded = round(time.monotonic() - started, 1)
    size = database_bytes(backend, database_url, work)
    print(f"{backend}, {users} users: seeded in {seeded} s, {size / 1e6:.0f} MB "
          f"({size / users:.0f} bytes per user)", flush=True)

    server = Portrait(database_url, work, env)
    port = server.port
    token = sign_in(port)
    base = f"http://127.0.0.1:{port}"
    auth = [f"Authorization: Bearer {token}"]
    deep = cursor_at(port, token, min(50_000, users - 100))
    requests = {
        "profile read": f"/users/{users // 2}/profile",
        "first page": "/users",
        "cursor 50k deep": deep,
        "offset 99.9%": f"/users?offset={int(users * 0.999)}",
        "rare search": "/users?search=98765",
        "common search": "/users?search=777",
    }
    result = {"seed_seconds": seeded, "database_bytes": size, "bytes_per_user": round(size / users)}
    for label, path in requests.items():
        # Profile reads are public, and measured as anyone reads them (the
        # same request as under paging below); the list needs a token.
        headers = [] if label == "profile read" else auth
        runs = [wrk(base + path, args.connections, args.duration, headers=headers) for _ in range(args.repeat)]
        result[label] = {
            "rps": round(statistics.median(r["rps"] for r in runs)),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
            "non_2xx": sum(r["non_2xx"] for r in runs),
            "single_ms": latency_ms(base + path, token if headers else None, min(args.duration, 3)),
        }
        print(f"  {label:<18} {result[label]}", flush=True)

    # Profile reads while 4 more clients fetch pages of the list.
    pagers = []
    stop = threading.Event()

    def page_forever():
        while not stop.is_set():
            subprocess.run(["wrk", "-t1", "-c4", "-d2s", "-H", auth[0], base + "/users"],
                           capture_output=True)

    pagers.append(threading.Thread(target=page_forever))
    pagers[0].start()
    time.sleep(0.5)
    runs = [wrk(base + requests["profile read"], args.connections, args.duration) for _ in range(args.repeat)]
    stop.set()
    pagers[0].join()
    result["profile read while paged"] = {
        "rps": round(statistics.median(r["rps"] for r in runs)),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "non_2xx": sum(r["non_2xx"] for r in runs),
    }
    print(f"  {'reads while paged':<18} {result['profile read while paged']}", flush=True)
    server.stop()
    result["check"] = check_rss(database_url, f"{work}/media")
    print(f"  portrait check     {result['check']}", flush=True)
    if backend == "postgres":
        psql(admin_url, f"DROP DATABASE IF EXISTS portrait_scale_{users}")
    subprocess.run(["rm", "-rf", work])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=None, help="admin URL (default: the local server's socket)")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    admin_url = args.postgres or local_postgres()
    results = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
               "wrk": f"-t1 -c{args.connections} -d{args.duration}s, median of {args.repeat}"}
    for backend in ["sqlite", "postgres"]:
        if args.only and backend != args.only:
            continue
        for users in [args.baseline, args.users]:
            results[f"{backend} {users}"] = measure_size(backend, users, args, admin_url)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

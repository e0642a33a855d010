#!/usr/bin/env python3
"""HTTP load benchmark: portrait on SQLite and PostgreSQL, and the framework's ceiling.

Runs wrk (Debian's package) against the release binary for each read and
write that docs/performance.md names, and against bench/ceiling.rs (a minimal actix-web
handler returning a Profile of the same shape) in the same run. Each
figure is the median of --repeat runs of wrk -t1 -cN -dS.

Usage: bench/load.py [--repeat 3] [--duration 10] [--connections 32] [--postgres URL]
Build first: cargo build --release --features bench-tools --bins
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.parse

from common import call, free_port, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
PASSWORD = "benchmark password 1"


def wrk(url, connections, duration, script=None, headers=()):
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def measure(label, runs):
    result = {
        "rps": round(statistics.median(r["rps"] for r in runs)),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "non_2xx": sum(r["non_2xx"] for r in runs),
    }
    print(f"  {label:<44} {result['rps']:>9} req/s   p99 {result['p99_ms']:>6} ms"
          + (f"   non-2xx {result['non_2xx']}" if result["non_2xx"] else ""), flush=True)
    return result


def lua_script(path, method, body, content_type="application/json"):
    with open(path, "w") as f:
        f.write(f'wrk.method = "{method}"\n')
        f.write(f"wrk.body = [[{body}]]\n")
        f.write(f'wrk.headers["Content-Type"] = "{content_type}"\n')
    return path


class Portrait:
    def __init__(self, database_url, work, extra_env=None):
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": f"{work}/media",
            "BIND_ADDR": f"127.0.0.1:{self.port}",
            "JWT_SECRET": "benchmark-secret-that-is-long-enough-123",
            "LOGIN_MAX_FAILURES": "1000000",
            "LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
            "REGISTER_RATE": "off",
            "UPLOAD_RATE": "off",
            "RUST_LOG": env.get("BENCH_RUST_LOG", "warn"),
        })
        env.update(extra_env or {})
        self.process = subprocess.Popen([os.path.join(RELEASE, "portrait"), "serve"], env=env)
        wait_healthy(self.port)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def seed(port, users=50):
    """Users with profiles, one signed in, one picture uploaded."""
    for i in range(users):
        name = f"user{i:03d}"
        body = json.dumps({"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        status, _ = call(port, "POST", "/users", body, {"Content-Type": "application/json"})
        assert status == 201, status
    status, data = call(port, "POST", "/auth/token", json.dumps({"username": "user000", "password": PASSWORD}),
                        {"Content-Type": "application/json"})
    token = json.loads(data)["access_token"]
    photo = open(os.path.join(ROOT, "media", "default.jpg"), "rb").read()
    boundary = "benchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n".encode()
            + photo + f"\r\n--{boundary}--\r\n".encode())
    status, data = call(port, "PUT", "/profile/picture", body,
                        {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, status
    picture_url = json.loads(data)["image"]["url"]
    return token, picture_url


def hash_ms():
    """One argon2id hash with portrait's parameters (the median of 40), in ms."""
    return float(subprocess.run([os.path.join(RELEASE, "hash_time")], check=True,
                                capture_output=True, text=True).stdout)


def local_postgres():
    """The local server through its Unix socket when it has one (as Django
    connects when HOST is empty), else over TCP."""
    if os.path.exists("/var/run/postgresql/.s.PGSQL.5432"):
        return "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres"
    return "postgres://postgres@127.0.0.1:5432/postgres"


def bench_portrait(label, database_url, work, args, results, hash_times):
    print(f"portrait on {label}:", flush=True)
    server = Portrait(database_url, work)
    try:
        token, picture_url = seed(server.port)
        base = f"http://127.0.0.1:{server.port}"
        auth = (f"Authorization: Bearer {token}",)
        repeat = lambda url, **kw: [wrk(url, args.connections, args.duration, **kw) for _ in range(args.repeat)]
        results[f"{label}: GET /users/{{id}}/profile"] = measure("GET /users/{id}/profile", repeat(f"{base}/users/7/profile"))
        results[f"{label}: GET /users/{{id}}"] = measure("GET /users/{id}", repeat(f"{base}/users/7"))
        results[f"{label}: GET /users?limit=20"] = measure("GET /users?limit=20 (signed in)",
                                                            repeat(f"{base}/users?limit=20", headers=auth))
        results[f"{label}: GET /media/…"] = measure("GET /media/profile_pics/… (300 px JPEG)", repeat(f"{base}{picture_url}"))
        script = lua_script(f"{work}/token.lua", "POST", json.dumps({"username": "user001", "password": PASSWORD}))
        # The machine's speed drifts (a shared VM): one hash is timed right
        # before each sign-in run, and the bound is taken from those.
        token_runs = []
        for _ in range(args.repeat):
            hash_times.append(hash_ms())
            token_runs += repeat(f"{base}/auth/token", script=script)[:1]
        results[f"{label}: POST /auth/token"] = measure("POST /auth/token (argon2id)", token_runs)
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--postgres", default=local_postgres(),
                        help="an admin URL of the server; the benchmark database is made next to it")
    args = parser.parse_args()

    results = {}
    work = tempfile.mkdtemp(prefix="portrait-http-bench-")

    print("ceiling (bench/ceiling.rs, fixed Profile JSON):", flush=True)
    port = free_port()
    ceiling = subprocess.Popen([os.path.join(RELEASE, "ceiling"), f"127.0.0.1:{port}"])
    try:
        wait_healthy(port, "/users/1/profile")
        runs = [wrk(f"http://127.0.0.1:{port}/users/1/profile", args.connections, args.duration) for _ in range(args.repeat)]
        results["ceiling: GET /users/{id}/profile"] = measure("GET /users/{id}/profile", runs)
    finally:
        ceiling.terminate()
        ceiling.wait()

    hash_times = []
    bench_portrait("SQLite", f"sqlite://{work}/bench.sqlite3", work, args, results, hash_times)

    if args.postgres:
        name = f"portrait_bench_{os.getpid()}"
        subprocess.run(["psql", args.postgres, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        try:
            url = urllib.parse.urlunparse(urllib.parse.urlparse(args.postgres)._replace(path=f"/{name}"))
            bench_portrait("PostgreSQL", url, f"{work}/pg", args, results, hash_times)
        finally:
            subprocess.run(["psql", args.postgres, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])

    hash_time = statistics.median(hash_times)
    cores = os.cpu_count()
    ceiling_rps = results["ceiling: GET /users/{id}/profile"]["rps"]
    summary = {
        "machine": f"{platform.machine()}, {cores} cores, {platform.platform()}",
        "wrk": f"-t1 -c{args.connections} -d{args.duration}s, median of {args.repeat}",
        "argon2id_hash_ms": hash_time,
        "auth_token_bound_rps": round(cores * 1000 / hash_time),
        "profile_vs_ceiling_sqlite": round(results["SQLite: GET /users/{id}/profile"]["rps"] / ceiling_rps, 3),
        "results": results,
    }
    for backend in ("SQLite", "PostgreSQL"):
        if f"{backend}: POST /auth/token" in results:
            summary[f"auth_token_vs_bound_{backend.lower()}"] = round(
                results[f"{backend}: POST /auth/token"]["rps"] / summary["auth_token_bound_rps"], 3)
    if "PostgreSQL: GET /users/{id}/profile" in results:
        summary["profile_vs_ceiling_postgres"] = round(results["PostgreSQL: GET /users/{id}/profile"]["rps"] / ceiling_rps, 3)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Does POST /auth/password-reset tell a known address from an unknown one
by its timing? Registers N users, then sends interleaved requests for a
registered address and for an unknown one (each address used once, so
neither throttle nor cache differs), on one keep-alive connection, and
reports both medians, their difference, and the spread of each: an
answer that looked the address up (or made a token) before answering
would be slower for the known one.

Usage: bench/reset_timing.py [--requests 400] [--binary target/release/portrait]
"""

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from common import free_port, json_post, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/portrait"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="portrait-reset-")
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": env.get("BENCH_DATABASE_URL", f"sqlite://{work}/bench.sqlite3"),
        "MEDIA_ROOT": f"{work}/media",
        "BIND_ADDR": f"127.0.0.1:{port}",
        "JWT_SECRET": "benchmark-secret-that-is-long-enough-123",
        "RUST_LOG": "warn",
        "REGISTER_RATE": "off",
        "EMAIL_RATE_PER_CLIENT": "off",
        "EMAIL_RATE_PER_ADDRESS": "off",
        "EMAIL_URL": f"file://{work}/outbox",
    })
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        wait_healthy(port)
        half = args.requests // 2
        for i in range(half):
            status, _ = json_post(port, "/users", {"username": f"known{i}", "email": f"known{i}@example.com", "password": "benchmark password 1"})
            assert status == 201, status
        time.sleep(1)  # let the verification emails go out first
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        timings = {"known": [], "unknown": []}
        for i in range(half):
            for kind in ("known", "unknown"):
                body = json.dumps({"email": f"{kind}{i}@example.com"}).encode()
                started = time.perf_counter()
                conn.request("POST", "/auth/password-reset", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - started
                assert response.status == 202, response.status
                timings[kind].append(elapsed * 1000)
    finally:
        server.terminate()
        server.wait(timeout=30)

    def summary(values):
        values = sorted(values)
        return {
            "median_ms": round(statistics.median(values), 4),
            "p10_ms": round(values[len(values) // 10], 4),
            "p90_ms": round(values[9 * len(values) // 10], 4),
        }

    known, unknown = summary(timings["known"]), summary(timings["unknown"])
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "requests_each": half,
        "known_address": known,
        "unknown_address": unknown,
        "median_difference_ms": round(known["median_ms"] - unknown["median_ms"], 4),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

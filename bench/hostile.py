#!/usr/bin/env python3
"""Hostile-load benchmark: a well-behaved client with and without attacks.

Starts the release binary (SQLite, or PostgreSQL with --postgres URL) and
measures a well-behaved client reading GET /users/{id}/profile on one
keep-alive connection: p50/p99 alone, then again while attackers run at
once (progressive-JPEG scan bombs and 16-bit PNG bombs uploaded by one
user, and a flood of wrong sign-ins from many threads). Reports how long
each bomb took to be refused, how the sign-ins were answered, and the
server's peak RSS while 20 PNG bombs arrive at once.

Usage: bench/hostile.py [--reads 400] [--flood 64] [--postgres URL] [--binary target/release/portrait]
Build first: cargo build --release
"""

import argparse
import http.client
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

from common import call, free_port, json_post, register_and_sign_in, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def png_bomb(side):
    """A few hundred bytes declaring a side×side 16-bit RGBA picture."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def scan_bomb(scans):
    """A progressive JPEG header followed by `scans` empty scans."""
    body = bytes([0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x17, 0x70, 0x17, 0x70, 0x03,
                  1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    body += bytes([0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00]) * scans
    return body + bytes([0xFF, 0xD9])


def multipart(data):
    boundary = "portrait-hostile-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(port, token, data):
    body, content_type = multipart(data)
    started = time.perf_counter()
    status, _ = call(port, "PUT", "/profile/picture", body,
                     {"Authorization": f"Bearer {token}", "Content-Type": content_type})
    return status, time.perf_counter() - started


def read_latencies(port, path, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, statuses = [], {}
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    return latencies, statuses


def p(values, q):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 2)


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--flood", type=int, default=64)
    parser.add_argument("--postgres")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "portrait"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        database_url = args.postgres or f"sqlite://{work}/hostile.sqlite3"
        if args.postgres:
            name = f"portrait_hostile_{os.getpid()}"
            subprocess.run(["psql", args.postgres, "-qc", f'CREATE DATABASE "{name}"'], check=True)
            database_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": f"{work}/media",
            "BIND_ADDR": f"127.0.0.1:{port}",
            "JWT_SECRET": "benchmark-secret-that-is-long-enough-123",
            "RUST_LOG": "error",
            # The attacker's volume is the point: the rate throttles go, and
            # the flood stands for many clients (one address would be
            # throttled after LOGIN_MAX_FAILURES_PER_CLIENT and never hash).
            "REGISTER_RATE": "off",
            "UPLOAD_RATE": "off",
            "LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
        })
        server = subprocess.Popen([args.binary, "serve"], env=env)
        try:
            wait_healthy(port)
            alice_id, _ = register_and_sign_in(port, "alice")
            _, mallory = register_and_sign_in(port, "mallory")
            path = f"/users/{alice_id}/profile"
            read_latencies(port, path, 50)  # warm up

            quiet, quiet_statuses = read_latencies(port, path, args.reads)

            stop = threading.Event()
            bomb_times, bomb_statuses, login_statuses = [], {}, {}
            lock = threading.Lock()

            def bomber(data):
                while not stop.is_set():
                    status, took = upload(port, mallory, data)
                    with lock:
                        bomb_times.append(took)
                        bomb_statuses[status] = bomb_statuses.get(status, 0) + 1

            def flooder(i):
                n = 0
                while not stop.is_set():
                    status, _ = json_post(port, "/auth/token", {"username": f"victim{i}-{n}", "password": "wrong guess"})
                    n += 1
                    with lock:
                        login_statuses[status] = login_statuses.get(status, 0) + 1

            threads = [threading.Thread(target=bomber, args=(scan_bomb(5000),)),
                       threading.Thread(target=bomber, args=(png_bomb(6324),))]
            threads += [threading.Thread(target=flooder, args=(i,)) for i in range(args.flood)]
            for thread in threads:
                thread.start()
            time.sleep(1)
            attacked, attacked_statuses = read_latencies(port, path, args.reads)
            stop.set()
            for thread in threads:
                thread.join()

            baseline_hwm = rss_kib(server.pid, "VmHWM")
            before = rss_kib(server.pid, "VmRSS")
            bombs = [threading.Thread(target=upload, args=(port, mallory, png_bomb(6324))) for _ in range(20)]
            for thread in bombs:
                thread.start()
            for thread in bombs:
                thread.join()
            peak = rss_kib(server.pid, "VmHWM")
        finally:
            server.terminate()
            server.wait()
            if args.postgres:
                subprocess.run(["psql", args.postgres, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=False)

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.release()}",
        "database": "postgresql" if args.postgres else "sqlite",
        "reads_alone_ms": {"p50": p(quiet, 0.5), "p99": p(quiet, 0.99), "statuses": quiet_statuses},
        "reads_under_attack_ms": {"p50": p(attacked, 0.5), "p99": p(attacked, 0.99), "statuses": attacked_statuses},
        "bombs": {"count": len(bomb_times), "median_s": round(statistics.median(bomb_times), 4) if bomb_times else None,
                  "max_s": round(max(bomb_times), 4) if bomb_times else None, "statuses": bomb_statuses},
        "sign_in_flood_statuses": login_statuses,
        "rss_before_20_png_bombs_mib": round(before / 1024, 1),
        "peak_rss_20_png_bombs_mib": round(max(peak, baseline_hwm) / 1024, 1),
    }
    print(json.dumps(report, indent=2))
    failed = any(status >= 500 for status in list(quiet_statuses) + list(attacked_statuses))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

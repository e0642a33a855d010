#!/usr/bin/env python3
"""Crash test: kill -9 the server in the middle of concurrent work, again and again.

Starts the binary, drives concurrent registrations, sign-ins, uploads and
picture deletions, kills it with SIGKILL at random moments (several times),
restarts it each time, and then checks what must hold whatever the timing:
every user has exactly one profile, every profile's picture file exists,
`portrait check` finds nothing but files younger than the grace period, and
none after `check --fix`; SQLite passes `PRAGMA integrity_check`.

Usage: tests/crash.py [--binary target/release/portrait] [--kills 5]
       [--database-url postgres://postgres@127.0.0.1:5432/postgres]
With a PostgreSQL URL a database of its own is created there and dropped after.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

PASSWORD = "crash test password 1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_png(width=96, height=64):
    """An opaque RGB PNG gradient, made with the standard library only."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 128))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Server:
    def __init__(self, binary, env, port):
        self.binary, self.env, self.port = binary, env, port
        self.process = None

    def start(self):
        self.process = subprocess.Popen([self.binary, "serve"], env=self.env, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill9(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)


def request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def client_loop(port, index, stop, stats):
    """Registers, signs in, then uploads and deletes pictures until stopped."""
    rng = random.Random(index)
    picture = make_picture()
    boundary = "crashboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n".encode()
        + picture
        + f"\r\n--{boundary}--\r\n".encode()
    )
    token = None
    while not stop.is_set():
        try:
            if token is None:
                name = f"u{index}x{rng.randrange(10**9)}"
                status, _ = request(port, "POST", "/users", json.dumps(
                    {"username": name, "email": f"{name}@example.com", "password": PASSWORD}).encode(),
                    {"Content-Type": "application/json"})
                stats["status"].append(status)
                status, data = request(port, "POST", "/auth/token", json.dumps(
                    {"username": name, "password": PASSWORD}).encode(), {"Content-Type": "application/json"})
                stats["status"].append(status)
                if status == 200:
                    token = json.loads(data)["access_token"]
                continue
            headers = {"Authorization": f"Bearer {token}"}
            if rng.random() < 0.75:
                headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
                status, _ = request(port, "PUT", "/profile/picture", body, headers)
            else:
                status, _ = request(port, "DELETE", "/profile/picture", None, headers)
            stats["status"].append(status)
            if rng.random() < 0.1:
                token = None
        except OSError:
            # The server was killed under us: expected. Wait for it to return.
            time.sleep(0.05)


_PICTURE = None


def make_picture():
    return _PICTURE or small_png()


def run_check(binary, env, *args):
    result = subprocess.run([binary, "check", *args], env=env, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def main():
    global _PICTURE
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/portrait")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--picture", default="", help="a picture to upload (default: a small PNG made here)")
    args = parser.parse_args()
    if args.picture:
        _PICTURE = open(args.picture, "rb").read()

    work = tempfile.mkdtemp(prefix="portrait-crash-")
    pg_admin = None
    if args.database_url.startswith("postgres"):
        pg_admin = args.database_url
        name = f"portrait_crash_{os.getpid()}"
        subprocess.run(["psql", pg_admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
        parsed = urllib.parse.urlparse(pg_admin)
        database_url = urllib.parse.urlunparse(parsed._replace(path=f"/{name}"))
    else:
        database_url = f"sqlite://{work}/crash.sqlite3"

    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": f"{work}/media",
        "BIND_ADDR": f"127.0.0.1:{port}",
        "JWT_SECRET": "crash-test-secret-that-is-long-enough!",
        "RUST_LOG": "error",
        "LOGIN_MAX_FAILURES": "1000000",
        "LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
        "REGISTER_RATE": "off",
        "UPLOAD_RATE": "off",
        "EMAIL_URL": f"file://{work}/outbox",
    })
    server = Server(args.binary, env, port)
    stats = {"status": []}
    failures = []
    try:
        rng = random.Random(42)
        for round_number in range(args.kills):
            server.start()
            stop = threading.Event()
            threads = [threading.Thread(target=client_loop, args=(port, i + round_number * 100, stop, stats))
                       for i in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.5, 2.0))
            server.kill9()
            stop.set()
            for t in threads:
                t.join()
            print(f"round {round_number + 1}: killed with -9 after {len(stats['status'])} answers so far", flush=True)
        server.start()
        server.stop()

        server_errors = [s for s in stats["status"] if s >= 500]
        if server_errors:
            failures.append(f"{len(server_errors)} answers were 5xx")

        code, output = run_check(args.binary, env)
        print("check:", output.strip().replace("\n", " | "))
        if code != 0:
            failures.append(f"portrait check found more than young files:\n{output}")
        code, output = run_check(args.binary, env, "--fix", "--grace", "0")
        print("check --fix --grace 0:", output.strip().replace("\n", " | "))
        if code != 0:
            failures.append(f"check --fix did not leave a consistent state:\n{output}")
        code, output = run_check(args.binary, env, "--grace", "0")
        if code != 0:
            failures.append(f"after --fix, check still finds:\n{output}")

        if not pg_admin:
            db = sqlite3.connect(f"{work}/crash.sqlite3")
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                failures.append(f"SQLite integrity_check: {integrity}")
            users = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
            bad = db.execute(
                "SELECT COUNT(*) FROM users u WHERE (SELECT COUNT(*) FROM profiles p WHERE p.user_id = u.id) <> 1"
            ).fetchone()[0]
            missing = [image for (image,) in db.execute("SELECT image FROM profiles")
                       if not os.path.exists(os.path.join(work, "media", image))]
            db.close()
        else:
            def scalar(sql):
                return int(subprocess.run(["psql", database_url, "-Atc", sql], check=True,
                                          capture_output=True, text=True).stdout.strip())
            users = scalar("SELECT COUNT(*) FROM users")
            bad = scalar("SELECT COUNT(*) FROM users u WHERE (SELECT COUNT(*) FROM profiles p WHERE p.user_id = u.id) <> 1")
            images = subprocess.run(["psql", database_url, "-Atc", "SELECT image FROM profiles"], check=True,
                                    capture_output=True, text=True).stdout.split()
            missing = [i for i in images if not os.path.exists(os.path.join(work, "media", i))]
        print(f"{users} users, {len(stats['status'])} answers, {len(server_errors)} 5xx")
        if users == 0:
            failures.append("no user was created: the test did not exercise anything")
        if bad:
            failures.append(f"{bad} users without exactly one profile")
        if missing:
            failures.append(f"profiles naming missing files: {missing[:5]}")
    finally:
        if server.process and server.process.poll() is None:
            server.kill9()
        if pg_admin:
            subprocess.run(["psql", pg_admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
        shutil.rmtree(work, ignore_errors=True)

    if failures:
        print("CRASH TEST FAILED:\n- " + "\n- ".join(failures))
        return 1
    print("crash test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Replicas test: three `portrait serve` processes on one PostgreSQL database
and one S3 store (a real s3s-fs server), as a deployment runs them.

What it checks, with a client spreading requests round-robin:
- register on one replica, sign in on another, upload on a third, and the
  profile and every rendition readable on all three (GET /media streams
  from the store);
- a refresh token rotated on one replica is spent on the others;
- the sign-in throttle counts across replicas: 5 failures spread over the
  3 lock the account everywhere;
- kill -9 of one replica under load (registrations, sign-ins, uploads,
  deletions on all three) loses nothing: every user has exactly one
  profile, every profile's renditions are objects in the bucket (listed on
  the server's own disk, not through portrait), `portrait check` finds
  nothing but young files, and nothing once --fix has run.

Usage: tests/replicas.py --binary target/release/portrait
       --database-url postgres://postgres@127.0.0.1:5432/postgres
       [--s3s-fs ~/.cache/portrait-ci/s3s-fs-0.14.1/bin/s3s-fs]
A database of its own is created there and dropped after.
"""

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crash import Server, free_port, request, small_png  # noqa: E402

PASSWORD = "replicas test password 1"
BUCKET = "portrait-media"
PREFIX = "media"
ACCESS_KEY = "replicas-access"
SECRET_KEY = "replicas-secret-key-0123456789"


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Replica(Server):
    """One `portrait serve` of the three, on a port of its own."""

    def __init__(self, binary, env, index):
        port = free_port()
        super().__init__(binary, dict(env, BIND_ADDR=f"127.0.0.1:{port}"), port)
        self.index = index


def call(replica, method, path, body=None, token=None, content_type="application/json"):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    if body is not None:
        headers["Content-Type"] = content_type
    status, data = request(replica.port, method, path, body, headers)
    return status, data


def multipart(picture):
    boundary = "replicasboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n".encode()
        + picture + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def bucket_objects(root):
    """Every object s3s-fs holds in the bucket, from its own directory."""
    bucket = os.path.join(root, BUCKET)
    names = set()
    for directory, _, files in os.walk(bucket):
        for file in files:
            name = os.path.relpath(os.path.join(directory, file), bucket)
            if not any(part.startswith(".") for part in name.split("/")):
                names.add(name)
    return names


def expected_objects(image, stem, variants):
    """The objects a profile's picture must have: every size in its primary
    format and in WebP."""
    if image == "default.jpg" or not variants:
        return []
    extension = image.rsplit(".", 1)[1]
    widths = [size.split("x")[0] for size in variants.split(",")]
    return [f"{PREFIX}/{stem}-{w}.{ext}" for w in widths for ext in (extension, "webp")]


def scenario(replicas, failures):
    """One client, every step on another replica."""
    a, b, c = replicas
    status, _ = call(a, "POST", "/users", {"username": "alice", "email": "alice@example.com", "password": PASSWORD})
    if status != 201:
        failures.append(f"register on replica 0: {status}")
        return
    status, data = call(b, "POST", "/auth/token", {"username": "alice", "password": PASSWORD})
    if status != 200:
        failures.append(f"sign in on replica 1: {status}")
        return
    tokens = json.loads(data)
    body, content_type = multipart(small_png(640, 480))
    status, data = call(c, "PUT", "/profile/picture", body, tokens["access_token"], content_type)
    if status != 200:
        failures.append(f"upload on replica 2: {status} {data[:200]!r}")
        return
    uploaded = json.loads(data)
    urls = [uploaded["image"]["url"]] + [entry.split(" ")[0] for srcset in uploaded["image"]["srcset"].values()
                                         for entry in srcset.split(", ")]
    for replica in replicas:
        status, data = call(replica, "GET", "/profile", token=tokens["access_token"])
        if status != 200 or json.loads(data)["image"]["url"] != uploaded["image"]["url"]:
            failures.append(f"replica {replica.index} does not show the upload: {status}")
        for url in urls:
            status, data = call(replica, "GET", urllib.parse.urlparse(url).path)
            if status != 200 or not data:
                failures.append(f"replica {replica.index} cannot serve {url}: {status}")

    # A refresh token spent on one replica is spent on all.
    status, data = call(a, "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    if status != 200:
        failures.append(f"refresh on replica 0: {status}")
    status, _ = call(b, "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    if status != 401:
        failures.append(f"a spent refresh token replayed on replica 1 gave {status}, not 401")

    # Five failures over three replicas lock the account on every one.
    for attempt in range(5):
        status, _ = call(replicas[attempt % 3], "POST", "/auth/token", {"username": "alice", "password": "wrong"})
        if status != 401:
            failures.append(f"failure {attempt + 1} gave {status}, not 401")
    for replica in replicas:
        status, _ = call(replica, "POST", "/auth/token", {"username": "alice", "password": PASSWORD})
        if status != 429:
            failures.append(f"after 5 failures over 3 replicas, replica {replica.index} answered {status}, not 429")
    print("scenario: register, sign in, upload, read, refresh and throttle across replicas done", flush=True)


def client_loop(replicas, index, stop, stats):
    """Registers, signs in, uploads and deletes, each request on the next replica."""
    rng = random.Random(index)
    body, content_type = multipart(small_png(320, 240))
    turn = index
    token = None
    while not stop.is_set():
        replica = replicas[turn % len(replicas)]
        turn += 1
        try:
            if token is None:
                name = f"r{index}x{rng.randrange(10**9)}"
                status, _ = call(replica, "POST", "/users",
                                 {"username": name, "email": f"{name}@example.com", "password": PASSWORD})
                stats.append((replica.index, status))
                replica = replicas[turn % len(replicas)]
                turn += 1
                status, data = call(replica, "POST", "/auth/token", {"username": name, "password": PASSWORD})
                stats.append((replica.index, status))
                if status == 200:
                    token = json.loads(data)["access_token"]
                continue
            if rng.random() < 0.75:
                status, _ = call(replica, "PUT", "/profile/picture", body, token, content_type)
            else:
                status, _ = call(replica, "DELETE", "/profile/picture", token=token)
            stats.append((replica.index, status))
            if rng.random() < 0.1:
                token = None
        except OSError:
            # That replica was killed under us: the next one answers.
            time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/portrait")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--s3s-fs", default=os.path.expanduser("~/.cache/portrait-ci/s3s-fs-0.14.1/bin/s3s-fs"))
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="portrait-replicas-")
    name = f"portrait_replicas_{os.getpid()}"
    subprocess.run(["psql", args.database_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    parsed = urllib.parse.urlparse(args.database_url)
    database_url = urllib.parse.urlunparse(parsed._replace(path=f"/{name}"))

    store_root = os.path.join(work, "s3")
    os.makedirs(os.path.join(store_root, BUCKET))
    s3_port = free_port()
    store = subprocess.Popen([args.s3s_fs, "--host", "127.0.0.1", "--port", str(s3_port),
                              "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, store_root],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(s3_port)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "MEDIA_STORAGE": f"s3://{BUCKET}/{PREFIX}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "JWT_SECRET": "replicas-test-secret-that-is-long-enough",
        "RUST_LOG": "error",
        "REGISTER_RATE": "off",
        "UPLOAD_RATE": "off",
        "WORKERS": "1",
        "DATABASE_POOL_SIZE": "4",
        "EMAIL_URL": f"file://{work}/outbox",
    }
    replicas = [Replica(args.binary, env, i) for i in range(3)]
    failures = []
    stats = []
    try:
        # Started together: migrations run once, under their lock.
        starters = [threading.Thread(target=r.start) for r in replicas]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for r in replicas:
            if r.process.poll() is not None:
                raise RuntimeError(f"replica {r.index} did not start")
        scenario(replicas, failures)

        stop = threading.Event()
        threads = [threading.Thread(target=client_loop, args=(replicas, i, stop, stats)) for i in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(args.seconds / 2)
        victim = replicas[1]
        victim.kill9()
        killed_at = len(stats)
        print(f"replica 1 killed with -9 after {killed_at} answers", flush=True)
        time.sleep(args.seconds / 2)
        victim.start()
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
        for r in replicas:
            r.stop()

        errors = [(i, s) for i, s in stats if s >= 500]
        if errors:
            failures.append(f"{len(errors)} answers were 5xx: {errors[:5]}")
        uploads = sum(1 for _, s in stats if s == 200)
        print(f"{len(stats)} answers under load, {uploads} of them 200, {len(errors)} 5xx", flush=True)

        def rows(sql):
            out = subprocess.run(["psql", database_url, "-AtF", "\t", "-c", sql], check=True,
                                 capture_output=True, text=True).stdout
            return [line.split("\t") for line in out.splitlines() if line]

        users = int(rows("SELECT COUNT(*) FROM users")[0][0])
        bad = int(rows("SELECT COUNT(*) FROM users u WHERE "
                       "(SELECT COUNT(*) FROM profiles p WHERE p.user_id = u.id) <> 1")[0][0])
        objects = bucket_objects(store_root)
        missing = []
        pictures = 0
        for image, stem, variants in rows("SELECT image, image_stem, image_variants FROM profiles"):
            wanted = expected_objects(image, stem, variants)
            pictures += bool(wanted)
            missing += [name for name in wanted if name not in objects]
        for default in ("default.jpg",):
            if f"{PREFIX}/{default}" not in objects:
                missing.append(f"{PREFIX}/{default}")
        print(f"{users} users, {pictures} uploaded pictures, {len(objects)} objects in the bucket", flush=True)
        if users < 10:
            failures.append(f"only {users} users: the load did not exercise anything")
        if bad:
            failures.append(f"{bad} users without exactly one profile")
        if missing:
            failures.append(f"{len(missing)} renditions missing from the bucket: {missing[:5]}")

        check_env = dict(env, BIND_ADDR="127.0.0.1:0")

        def check(*extra):
            result = subprocess.run([args.binary, "check", *extra], env=check_env, capture_output=True, text=True)
            return result.returncode, (result.stdout + result.stderr).strip().replace("\n", " | ")

        code, output = check()
        print("check:", output, flush=True)
        if code != 0:
            failures.append(f"portrait check found more than young files: {output}")
        code, output = check("--fix", "--grace", "0")
        print("check --fix --grace 0:", output, flush=True)
        code, output = check("--grace", "0")
        if code != 0:
            failures.append(f"after --fix, check still finds: {output}")
        objects = bucket_objects(store_root)
        referenced = set()
        for image, stem, variants in rows("SELECT image, image_stem, image_variants FROM profiles"):
            referenced.update(expected_objects(image, stem, variants))
        strays = [o for o in objects if o.startswith(f"{PREFIX}/profile_pics/") and o not in referenced]
        if strays:
            failures.append(f"{len(strays)} objects no profile names after --fix: {strays[:5]}")
    finally:
        for r in replicas:
            if r.process and r.process.poll() is None:
                r.kill9()
        store.kill()
        store.wait()
        subprocess.run(["psql", args.database_url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])
        shutil.rmtree(work, ignore_errors=True)

    if failures:
        print("REPLICAS TEST FAILED:\n- " + "\n- ".join(failures))
        return 1
    print("replicas test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

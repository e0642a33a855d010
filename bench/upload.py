#!/usr/bin/env python3
"""Picture upload benchmark, side by side in one run.

Times PUT /profile/picture of a 12 MP JPEG on the release binary (HTTP
included, until the 200 answer with every rendition stored: 4 sizes in
JPEG and in WebP, and the ThumbHash) against libjpeg-turbo's own
`djpeg -scale 1/4` on the same file, interleaved, and reports medians and
their ratio. Then measures the server's RSS at idle and its peak while N
clients upload the same photo at once, and the bytes of each rendition,
JPEG against WebP, for the photo and for a picture of flat areas and
edges.

Usage: bench/upload.py [--runs 40] [--clients 20] [--binary target/release/portrait]
       bench/upload.py --storage s3 [--runs 40] [--s3s-fs PATH]
With `--storage s3` it instead times the same upload on two servers side by
side, interleaved: one storing on local disk, one on an s3s-fs server on
loopback (MEDIA_STORAGE=s3://…, real SigV4), and reports both medians and
their ratio.
Needs: djpeg (Debian's libjpeg-turbo-progs); the photo is made by
`cargo run --release --features bench-tools --bin bench_photo` if missing.
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from common import call, free_port, register_and_sign_in, wait_healthy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))




def multipart(photo_bytes):
    boundary = "portrait-bench-boundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + photo_bytes + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Uploader:
    """One keep-alive connection, like a mobile client's."""

    def __init__(self, port, token, body, content_type):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        self.body = body

    def upload(self):
        started = time.perf_counter()
        self.conn.request("PUT", "/profile/picture", body=self.body, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200, (response.status, data[:300])
        profile = json.loads(data)
        assert max(profile["image"]["width"], profile["image"]["height"]) == 300, profile
        assert len(profile["image"]["variants"]) == 8, profile
        self.profile = profile
        return elapsed


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def time_djpeg(photo):
    started = time.perf_counter()
    subprocess.run(["djpeg", "-scale", "1/4", "-outfile", os.devnull, photo], check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--binary", default=os.path.join(ROOT, "target/release/portrait"))
    parser.add_argument("--photo", default=os.path.join(ROOT, "bench/out/photo-12mp.jpg"))
    parser.add_argument("--flat", default=os.path.join(ROOT, "bench/out/flat-12mp.jpg"))
    parser.add_argument("--storage", choices=["file", "s3"], default="file")
    parser.add_argument("--s3s-fs", default=os.path.expanduser("~/.cache/portrait-ci/s3s-fs-0.14.1/bin/s3s-fs"))
    args = parser.parse_args()

    for path, extra in [(args.photo, []), (args.flat, ["4000", "3000", "4", "flat"])]:
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.run(["cargo", "run", "--release", "--quiet", "--features", "bench-tools", "--bin", "bench_photo", "--", path, *extra], check=True, cwd=ROOT)
    photo_bytes = open(args.photo, "rb").read()
    body, content_type = multipart(photo_bytes)

    if args.storage == "s3":
        return compare_storage(args, body, content_type)

    work = tempfile.mkdtemp(prefix="portrait-bench-")
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": env.get("BENCH_DATABASE_URL", f"sqlite://{work}/bench.sqlite3"),
        "MEDIA_ROOT": f"{work}/media",
        "BIND_ADDR": f"127.0.0.1:{port}",
        "JWT_SECRET": "benchmark-secret-that-is-long-enough-123",
        "RUST_LOG": "warn",
        "LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
        "REGISTER_RATE": "off",
        "UPLOAD_RATE": "off",
    })
    server = subprocess.Popen([args.binary, "serve"], env=env)
    try:
        wait_healthy(port)
        time.sleep(0.5)
        idle_rss = rss_kib(server.pid, "VmRSS")

        uploader = Uploader(port, register_and_sign_in(port, "bench")[1], body, content_type)
        for _ in range(3):
            uploader.upload()
            time_djpeg(args.photo)
        uploads, djpegs = [], []
        for _ in range(args.runs):
            djpegs.append(time_djpeg(args.photo))
            uploads.append(uploader.upload())

        tokens = [register_and_sign_in(port, f"client{i}")[1] for i in range(args.clients)]
        barrier = threading.Barrier(args.clients)
        concurrent = []

        def one_client(token):
            client = Uploader(port, token, body, content_type)
            barrier.wait()
            concurrent.append(client.upload())

        threads = [threading.Thread(target=one_client, args=(t,)) for t in tokens]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak_rss = rss_kib(server.pid, "VmHWM")
        time.sleep(2)
        settled_rss = rss_kib(server.pid, "VmRSS")

        rendition_bytes = {}
        for name, path in [("photo", args.photo), ("flat areas and edges", args.flat)]:
            flat_body, flat_type = multipart(open(path, "rb").read())
            client = Uploader(port, uploader.headers["Authorization"].split()[1], flat_body, flat_type)
            client.upload()
            sizes = {}
            for variant in client.profile["image"]["variants"]:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", variant["url"])
                data = conn.getresponse().read()
                key = f'{variant["width"]}x{variant["height"]}'
                sizes.setdefault(key, {})[variant["format"]] = len(data)
            for key, formats in sizes.items():
                formats["webp_over_jpeg"] = round(formats["webp"] / formats["jpeg"], 3)
            rendition_bytes[name] = sizes
    finally:
        server.terminate()
        server.wait(timeout=30)

    upload_ms = statistics.median(uploads) * 1000
    djpeg_ms = statistics.median(djpegs) * 1000
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "photo": {"path": os.path.relpath(args.photo, ROOT), "bytes": len(photo_bytes)},
        "runs": args.runs,
        "upload_median_ms": round(upload_ms, 2),
        "djpeg_scale_1_4_median_ms": round(djpeg_ms, 2),
        "ratio": round(upload_ms / djpeg_ms, 3),
        "idle_rss_mib": round(idle_rss / 1024, 1),
        "concurrent_clients": args.clients,
        "concurrent_upload_median_ms": round(statistics.median(concurrent) * 1000, 1),
        "peak_rss_mib": round(peak_rss / 1024, 1),
        "rss_2s_after_the_peak_mib": round(settled_rss / 1024, 1),
        "rendition_bytes": rendition_bytes,
        "qualities": {"JPEG_QUALITY": env.get("JPEG_QUALITY", "85"), "WEBP_QUALITY": env.get("WEBP_QUALITY", "80")},
    }
    print(json.dumps(result, indent=2))
    return 0


def wait_for_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def start_server(binary, work, extra):
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite://{work}/bench.sqlite3",
        "MEDIA_ROOT": f"{work}/media",
        "BIND_ADDR": f"127.0.0.1:{port}",
        "JWT_SECRET": "benchmark-secret-that-is-long-enough-123",
        "RUST_LOG": "error",
        "REGISTER_RATE": "off",
        "UPLOAD_RATE": "off",
        "EMAIL_URL": f"file://{work}/outbox",
    })
    env.update(extra)
    server = subprocess.Popen([binary, "serve"], env=env)
    wait_healthy(port)
    return server, port


def compare_storage(args, body, content_type):
    """The same upload on local disk and on S3 (s3s-fs on loopback), interleaved."""
    work = tempfile.mkdtemp(prefix="portrait-bench-s3-")
    os.makedirs(f"{work}/s3/bench")
    s3_port = free_port()
    store = subprocess.Popen([args.s3s_fs, "--host", "127.0.0.1", "--port", str(s3_port),
                              "--access-key", "bench-access", "--secret-key", "bench-secret-0123456789",
                              f"{work}/s3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(s3_port)
    servers = []
    try:
        os.makedirs(f"{work}/local")
        os.makedirs(f"{work}/remote")
        servers.append(start_server(args.binary, f"{work}/local", {}))
        servers.append(start_server(args.binary, f"{work}/remote", {
            "MEDIA_STORAGE": "s3://bench",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench-access",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-0123456789",
        }))
        uploaders = [Uploader(port, register_and_sign_in(port, "bench")[1], body, content_type)
                     for _, port in servers]
        for _ in range(3):
            for uploader in uploaders:
                uploader.upload()
        times = [[], []]
        for _ in range(args.runs):
            for i, uploader in enumerate(uploaders):
                times[i].append(uploader.upload())
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=30)
        store.kill()
        store.wait()
        shutil.rmtree(work, ignore_errors=True)
    local_ms = statistics.median(times[0]) * 1000
    s3_ms = statistics.median(times[1]) * 1000
    print(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "runs": args.runs,
        "upload_median_ms_local_disk": round(local_ms, 2),
        "upload_median_ms_s3s_fs": round(s3_ms, 2),
        "ratio_s3_over_local": round(s3_ms / local_ms, 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

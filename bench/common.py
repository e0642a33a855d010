"""Helpers the benchmark scripts share: a free port, one HTTP call, waiting for
health, JSON posts and a signed-in user."""

import http.client
import json
import socket
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_healthy(port, path="/healthz"):
    for _ in range(400):
        try:
            if call(port, "GET", path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


PASSWORD = "benchmark password 1"


def json_post(port, path, payload, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, data = call(port, "POST", path, json.dumps(payload).encode(), headers)
    return status, json.loads(data) if data else None


def register_and_sign_in(port, name):
    """Registers `name` and signs in: (user id, access token)."""
    status, body = json_post(port, "/users", {"username": name, "email": f"{name}@example.com", "password": PASSWORD})
    assert status == 201, status
    status, tokens = json_post(port, "/auth/token", {"username": name, "password": PASSWORD})
    assert status == 200, status
    return body["id"], tokens["access_token"]

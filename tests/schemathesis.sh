#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis,
# as a client team would: every operation, every standard check. Any
# finding fails. Usage: tests/schemathesis.sh [BINARY] (default: target/debug/portrait)
# Needs python3; installs schemathesis into target/schemathesis-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/debug/portrait}"
venv="target/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4,<5"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATABASE_URL="sqlite://$work/st.sqlite3" MEDIA_ROOT="$work/media" BIND_ADDR="127.0.0.1:$port" \
    JWT_SECRET="schemathesis-secret-that-is-long-enough" RUST_LOG=warn LOGIN_MAX_FAILURES=1000000 \
    LOGIN_MAX_FAILURES_PER_CLIENT=1000000 REGISTER_RATE=off UPLOAD_RATE=off \
    EMAIL_URL="file://$work/outbox" EMAIL_RATE_PER_CLIENT=off EMAIL_RATE_PER_ADDRESS=off \
    "$binary" serve > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done

# A signed-in user, so that authenticated operations are exercised too.
# (POST /auth/logout-all is left out: it would end that user's session
# for every operation after it; tests/api/sessions.rs covers it.)
curl -fsS -X POST "$base/users" -H 'content-type: application/json' \
    -d '{"username":"fuzzer","email":"fuzzer@example.com","password":"fuzzing password 1"}' > /dev/null
token="$(curl -fsS -X POST "$base/auth/token" -H 'content-type: application/json' \
    -d '{"username":"fuzzer","password":"fuzzing password 1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

"$venv/bin/schemathesis" --config-file tests/schemathesis.toml run "$base/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --exclude-operation-id auth_logout_all \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" \
    --workers 1 \
    --seed 1 \
    --suppress-health-check all \
    --no-color
# actix logs unparseable requests itself; what must never appear is a
# panic or one of our own 500s.
if grep -E "panicked|internal error|blocking task" "$work/server.log"; then
    echo "the server failed internally during the run" >&2
    exit 1
fi

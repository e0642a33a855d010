#!/usr/bin/env bash
# What client developers do with openapi/openapi.json, run against a real
# portrait: validate and lint the document (openapi-spec-validator,
# @redocly/cli), generate a TypeScript client (openapi-typescript, used
# through openapi-fetch, compiled with tsc --strict) and a Python client
# (openapi-python-client), run the same scenario through each with every
# answer checked against the document, and use Swagger UI's Try it out in
# headless Chromium, and drive the admin site there. Any failure fails.
#
# Usage: tests/clients/run.sh [BINARY] (default: target/release/portrait)
# Tool versions are pinned (typescript/package-lock.json,
# python-requirements.txt) and installed from the registries into a cache
# outside the checkout, keyed by those files (PORTRAIT_TOOLS_CACHE,
# default ~/.cache/portrait-ci).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="$(realpath "${1:-$root/target/release/portrait}")"
document="$root/openapi/openapi.json"
cache="${PORTRAIT_TOOLS_CACHE:-$HOME/.cache/portrait-ci}"

# Python tools, in a venv keyed by the requirements file.
py_key="$(sha256sum "$here/python-requirements.txt" | cut -c1-16)"
venv="$cache/python-clients-$py_key"
# A cache counts only once complete (its marker is written last): an
# interrupted install is redone, never half used.
if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python-requirements.txt"
    touch "$venv/.complete"
fi

# Node tools, in node_modules keyed by the lock file; linked into the
# TypeScript folder, where the scenario resolves its imports.
node_key="$(cat "$here/typescript/package.json" "$here/typescript/package-lock.json" | sha256sum | cut -c1-16)"
node_dir="$cache/node-clients-$node_key"
if [ ! -f "$node_dir/.complete" ]; then
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp "$here/typescript/package.json" "$here/typescript/package-lock.json" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$node_dir/.complete"
fi
ts="$(mktemp -d)"
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$ts" "$work"
}
trap cleanup EXIT
cp "$here/typescript/"*.ts "$here/typescript/"*.mjs "$here/typescript/tsconfig.json" "$here/typescript/package.json" "$ts/"
ln -s "$node_dir/node_modules" "$ts/node_modules"
bin="$ts/node_modules/.bin"

echo "-- openapi-spec-validator"
"$venv/bin/openapi-spec-validator" "$document"

echo "-- redocly lint"
# (Its Node.js 20 deprecation banner is left out of the log.)
if ! "$bin/redocly" lint --config "$here/redocly.yaml" --format=stylish "$document" > "$work/redocly.log" 2>&1; then
    cat "$work/redocly.log"
    echo "redocly lint found errors" >&2
    exit 1
fi
grep -v -E "Node.js|nodejs.org|═|║" "$work/redocly.log" | grep -v -E "^\s*$" || true

echo "-- the server"
max_upload=65536
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DATABASE_URL="sqlite://$work/clients.sqlite3" MEDIA_ROOT="$work/media" BIND_ADDR="127.0.0.1:$port" \
    JWT_SECRET="client-scenarios-secret-long-enough" RUST_LOG=warn \
    REGISTER_RATE=off UPLOAD_RATE=off MAX_UPLOAD_BYTES="$max_upload" EMAIL_URL="file://$work/outbox" \
    "$binary" serve > "$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" > /dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$base/healthz" > /dev/null || { cat "$work/server.log"; echo "the server did not start" >&2; exit 1; }
# The served document is the committed one: clients generated from
# either are the same client.
curl -fsS "$base/openapi.json" | cmp - "$document"
picture="$root/media/default.jpg"

echo "-- TypeScript: openapi-typescript, tsc --strict, the scenario through openapi-fetch"
"$bin/openapi-typescript" "$document" -o "$ts/generated/schema.d.ts" --silent
(cd "$ts" && "$bin/tsc" -p tsconfig.json)
node "$ts/out/scenario.js" "$base" "$document" "$picture" "$max_upload"

echo "-- Python: openapi-python-client, the scenario through the generated client"
# (Its post-generation hook runs ruff, from the same venv.)
PATH="$venv/bin:$PATH" "$venv/bin/openapi-python-client" generate --path "$document" --output-path "$work/portrait_client" \
    --meta none > "$work/generate.log" 2>&1 \
    || { cat "$work/generate.log"; exit 1; }
if grep -i -E "warning|unsupported|error" "$work/generate.log"; then
    cat "$work/generate.log"
    echo "openapi-python-client could not read all of the document" >&2
    exit 1
fi
PYTHONPATH="$work" "$venv/bin/python" "$here/python/scenario.py" "$base" "$document" "$picture" "$max_upload"

echo "-- Swagger UI: Try it out in headless Chromium"
node "$ts/swagger_ui.mjs" "$base"

echo "-- the admin site in headless Chromium"
admin_password="admin site root password"
PORTRAIT_SUPERUSER_PASSWORD="$admin_password" DATABASE_URL="sqlite://$work/clients.sqlite3" \
    MEDIA_ROOT="$work/media" EMAIL_URL="file://$work/outbox" RUST_LOG=error \
    "$binary" createsuperuser --username admin_root --email admin_root@example.com > /dev/null
# ADMIN_SCREENSHOTS=docs/admin keeps the pages' screenshots (README shows them).
node "$ts/admin.mjs" "$base" "$work/clients.sqlite3" admin_root "$admin_password" "${ADMIN_SCREENSHOTS:-$work/shots}"

if grep -E "panicked|internal error|blocking task" "$work/server.log"; then
    echo "the server failed internally during the scenarios" >&2
    exit 1
fi
echo "-- generated clients passed"

#!/usr/bin/env bash
# Runs a command with a private moto_server on a free loopback port, exported to the command as
# the standard AWS_ENDPOINT_URL (plus dummy credentials), and stops the server when the command
# ends, whether it passed, failed or was interrupted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/.venv/bin/python"
[ -x "$root/.venv/bin/moto_server" ] || { echo "with-moto: moto missing from .venv; run 'make venv'" >&2; exit 2; }

port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$root/target/moto-$port.log"
mkdir -p "$root/target"
# moto_server, with DynamoDB's conditional writes made atomic as on the real service (see the script).
"$python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then break; fi
  kill -0 $pid 2>/dev/null || { echo "with-moto: moto_server died, see $log" >&2; cat "$log" >&2; exit 2; }
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# The emulator logs one line per API request: the demo counts calls with it.
export MOTO_LOG="$log"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION="${AWS_REGION:-eu-north-1}"
# Never let a developer's profile or real credentials leak into a test run.
unset AWS_PROFILE AWS_DEFAULT_PROFILE
echo "with-moto: moto_server pid $pid at $AWS_ENDPOINT_URL" >&2
"$@"

#!/usr/bin/env bash
# Starts the example upstream on 127.0.0.1:9000 and the gateway on 127.0.0.1:8080 with
# the quickstart config (embedded store; no Redis needed). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --release -p archway -p archway-example-upstream
cargo build --release --target wasm32-wasip2 -p hello-auth -p trading-sim
mkdir -p examples/quickstart/plugins
cp "$target/wasm32-wasip2/release/hello_auth.wasm" "$target/wasm32-wasip2/release/trading_sim.wasm" \
    examples/quickstart/plugins/
"$target/release/archway-example-upstream" --listen 127.0.0.1:9000 &
upstream=$!
trap 'kill $upstream 2>/dev/null' EXIT
exec_status=0
"$target/release/archway" serve --config examples/quickstart/archway.toml || exec_status=$?
exit $exec_status

"""A trading backend outside the gateway, on a plain Redis client (redis-py): it reads
trading-control's command stream, starts the engine a command names, and reports it
running, as plugins/trading-control/README.md documents the layout.

Usage: trading_backend.py REDIS_URL ENGINE_ID [SECONDS]
Prints one JSON line for the command it handled; exits 1 if none came in time.
"""

import json
import sys
import time

import redis

NAMESPACE = "shared/trading/"
COMMANDS = "archway:stream:" + NAMESPACE + "commands"


def kv(name):
    return "archway:kv:" + NAMESPACE + name


def main():
    url, engine_id = sys.argv[1], sys.argv[2]
    deadline = time.time() + float(sys.argv[3] if len(sys.argv) > 3 else 20)
    client = redis.Redis.from_url(url, decode_responses=True)
    last = "0"
    while time.time() < deadline:
        for _stream, entries in client.xread({COMMANDS: last}, count=100, block=200) or []:
            for entry_id, fields in entries:
                last = entry_id
                if fields.get("command") != "engine.start" or fields.get("engine_id") != engine_id:
                    continue
                now_ms = int(time.time() * 1000)
                engine = json.loads(client.get(kv("engines/" + engine_id)))
                engine.update(status="running", started_at=now_ms, updated_at=now_ms, portfolio_count=0)
                client.set(kv("engines/" + engine_id), json.dumps(engine))
                client.set(kv("heartbeats/engine/" + engine_id), str(now_ms))
                print(json.dumps({"handled": fields["command_id"], "config": json.loads(fields["config"])}), flush=True)
                return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())

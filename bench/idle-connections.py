#!/usr/bin/env python3
"""Opens COUNT HTTP/1.1 keep-alive connections to 127.0.0.1:PORT, sends one GET of PATH
on each and reads its whole 2xx response, then holds them all idle. Prints `open COUNT`
once every connection has been answered, and exits after --hold seconds (or when
killed); the operating system closes the connections. Exits non-zero, naming the
first failure, if a connection cannot be opened or answered within --timeout seconds.

Used by bench/run.sh to measure a server's resident memory per idle connection.
"""

import argparse
import asyncio
import sys

# Connections opened at once: more would overflow the server's accept backlog.
OPENING_AT_ONCE = 128


async def read_response(reader):
    """Reads one response (Content-Length or chunked body); returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "chunked" in fields.get("transfer-encoding", ""):
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    else:
        await reader.readexactly(int(fields.get("content-length", "0")))
    if fields.get("connection") == "close":
        raise ConnectionError(f"the server closes the connection (status {status})")
    return status


async def open_one(port, path, gate, held):
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        await writer.drain()
        status = await read_response(reader)
        if not 200 <= status < 300:
            raise ConnectionError(f"GET {path} answered {status}")
        held.append(writer)


async def main(args):
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    held = []
    opening = [open_one(args.port, args.path, gate, held) for _ in range(args.count)]
    try:
        await asyncio.wait_for(asyncio.gather(*opening), args.timeout)
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as error:
        sys.exit(f"idle-connections: after {len(held)} connections: {error!r}")
    except asyncio.TimeoutError:
        sys.exit(f"idle-connections: only {len(held)} of {args.count} connections "
                 f"answered within {args.timeout} s")
    print(f"open {len(held)}", flush=True)
    await asyncio.sleep(args.hold)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--count", type=int, default=9000)
    parser.add_argument("--timeout", type=float, default=60, help="to open them all")
    parser.add_argument("--hold", type=float, default=60, help="seconds to hold them")
    asyncio.run(main(parser.parse_args()))

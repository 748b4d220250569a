"""Loads Swagger UI in headless Chromium and records, through the DevTools protocol,
every network request the page makes, with its answer.

Usage: swagger_ui.py CHROMIUM BASE_URL
Prints a JSON report: {"requests": [{"url", "status", "error"}], "title": ...,
"operations": n} once the page has rendered the document's operations (at most 30 s).
"""

import json
import subprocess
import sys
import tempfile
import time

import requests
import websocket


def main():
    chromium, base = sys.argv[1:3]
    profile = tempfile.mkdtemp(prefix="archway-chromium-")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--disable-extensions", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-default-apps",
         f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--remote-debugging-address=127.0.0.1", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 30
        while port is None and time.time() < deadline:
            line = browser.stderr.readline()
            if "DevTools listening on ws://" in line:
                port = line.split("ws://127.0.0.1:")[1].split("/")[0]
        if port is None:
            raise SystemExit("chromium did not open its DevTools port")
        page = next(t for t in requests.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
                    if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                         suppress_origin=True)
        ids = iter(range(1, 1_000_000))

        def send(method, **params):
            ws.send(json.dumps({"id": next(ids), "method": method, "params": params}))

        send("Network.enable")
        send("Page.enable")
        send("Page.navigate", url=f"{base}/swagger-ui/")
        seen = {}
        operations = 0
        title = None
        deadline = time.time() + 30
        while time.time() < deadline:
            ws.settimeout(max(0.1, deadline - time.time()))
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            method = message.get("method")
            params = message.get("params", {})
            # Events of one request may arrive in any order.
            events = ("Network.requestWillBeSent", "Network.responseReceived",
                      "Network.loadingFailed")
            if method in events:
                request = seen.setdefault(params["requestId"],
                                          {"url": None, "status": None, "error": None})
                if method == "Network.requestWillBeSent":
                    request["url"] = params["request"]["url"]
                elif method == "Network.responseReceived":
                    request["url"] = request["url"] or params["response"]["url"]
                    request["status"] = params["response"]["status"]
                elif method == "Network.loadingFailed":
                    request["error"] = params.get("errorText")
            if method in ("Network.loadingFinished", "Page.loadEventFired"):
                # Ask how many operations the page rendered; done once it shows them all.
                send("Runtime.evaluate", expression=
                     "JSON.stringify([document.querySelectorAll('.opblock').length,"
                     " (document.querySelector('.title')||{}).textContent])")
            if message.get("result", {}).get("result", {}).get("type") == "string":
                operations, title = json.loads(message["result"]["result"]["value"])
                done = all(r["status"] or r["error"] for r in seen.values() if r["url"])
                if operations > 0 and done:
                    break
        ws.close()
        print(json.dumps({"requests": list(seen.values()), "operations": operations,
                          "title": title}))
    finally:
        browser.kill()
        browser.wait()


if __name__ == "__main__":
    main()

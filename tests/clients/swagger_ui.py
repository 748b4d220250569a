"""Loads Swagger UI in headless Chromium and records, through the DevTools protocol,
every network request the page makes, with its answer. With an API key, it then does
what a user does: Authorize with the key, open GET /admin/permissions, "Try it out",
"Execute", and reports what the page sent and showed.

Usage: swagger_ui.py CHROMIUM BASE_URL [API_KEY]
Prints a JSON report: {"requests": [{"url", "status", "error", "headers"}],
"operations": n, "title": ..., "try_it_out": {"status": ...} or null}.
"""

import json
import subprocess
import sys
import tempfile
import time

import requests
import websocket

# The page's own steps for "Try it out" on GET /admin/permissions with the key authorized.
TRY_IT_OUT = """
(async (key) => {
  const pause = (ms) => new Promise((done) => setTimeout(done, ms));
  window.ui.preauthorizeApiKey("api_key", key);
  const block = document.getElementById("operations-permissions-get_admin_permissions");
  window.ui.layoutActions.show(["operations", "permissions", "get_admin_permissions"], true);
  for (let i = 0; i < 50 && !block.querySelector(".try-out__btn"); i++) await pause(100);
  block.querySelector(".try-out__btn").click();
  for (let i = 0; i < 50 && !block.querySelector(".execute"); i++) await pause(100);
  block.querySelector(".execute").click();
  let status = null;
  for (let i = 0; i < 100 && !status; i++) {
    await pause(100);
    status = block.querySelector(".live-responses-table .response .response-col_status")
      ?.textContent.trim();
  }
  return JSON.stringify({ status });
})
"""


class Page:
    """A DevTools session on one page, recording its network requests."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.requests = {}

    def call(self, method, timeout=30, **params):
        """Sends a command and waits for its answer, recording events meanwhile."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = self.receive(deadline)
            if message is not None and message.get("id") == self.next_id:
                return message.get("result", {})
        raise SystemExit(f"no answer to {method}")

    def receive(self, deadline):
        self.ws.settimeout(max(0.05, deadline - time.time()))
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        method = message.get("method")
        params = message.get("params", {})
        # Events of one request may arrive in any order.
        if method in ("Network.requestWillBeSent", "Network.responseReceived",
                      "Network.loadingFailed"):
            request = self.requests.setdefault(
                params["requestId"], {"url": None, "status": None, "error": None, "headers": {}})
            if method == "Network.requestWillBeSent":
                request["url"] = params["request"]["url"]
                request["headers"] = params["request"].get("headers", {})
            elif method == "Network.responseReceived":
                request["url"] = request["url"] or params["response"]["url"]
                request["status"] = params["response"]["status"]
            else:
                request["error"] = params.get("errorText")
        return message

    def evaluate(self, expression, timeout=30):
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise SystemExit(f"the page failed: {json.dumps(result['exceptionDetails'])}")
        return result.get("result", {}).get("value")

    def settle(self, seconds):
        """Records events until every request seen has its answer, at most `seconds`."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.receive(min(deadline, time.time() + 0.2))
            if all(r["status"] or r["error"] for r in self.requests.values() if r["url"]):
                return


def main():
    chromium, base = sys.argv[1:3]
    key = sys.argv[3] if len(sys.argv) > 3 else None
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
        target = next(t for t in requests.get(f"http://127.0.0.1:{port}/json", timeout=10).json()
                      if t["type"] == "page")
        page = Page(target["webSocketDebuggerUrl"])
        page.call("Network.enable")
        page.call("Page.enable")
        page.call("Page.navigate", url=f"{base}/swagger-ui/")
        operations, title = 0, None
        deadline = time.time() + 30
        while operations == 0 and time.time() < deadline:
            page.settle(0.5)
            operations, title = json.loads(page.evaluate(
                "JSON.stringify([document.querySelectorAll('.opblock').length,"
                " (document.querySelector('.title')||{}).textContent || null])"))
        page.settle(5)
        tried = None
        if key is not None:
            tried = json.loads(page.evaluate(f"{TRY_IT_OUT}({json.dumps(key)})", timeout=30))
            page.settle(5)
        print(json.dumps({"requests": list(page.requests.values()), "operations": operations,
                          "title": title, "try_it_out": tried}))
    finally:
        browser.kill()
        browser.wait()


if __name__ == "__main__":
    main()

"""Example plugin in Python: answers `GET /greet/{name}` with the greeting its config sets.

Built with componentize-py against `greeter.wit`; see README.md.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Deny, RequestHead, Response

# Set by `init`, which the gateway calls once per instance before any request.
greeting = "Hello"


class Lifecycle(exports.Lifecycle):
    def init(self, config: str) -> None:
        global greeting
        configured = json.loads(config).get("greeting", greeting)
        if not isinstance(configured, str):
            raise Err("config: greeting must be a string")
        greeting = configured
        log.log(log.Level.INFO, f"greeting with {greeting!r}")


class Handle(exports.Handle):
    def handle(self, request: RequestHead) -> Response:
        name = request.param("name")
        if name is None:
            raise Err(Deny(400, "say who to greet: /greet/{name}", [], b""))
        if title := request.header("x-title"):
            name = f"{title} {name}"
        body = {
            "greeting": f"{greeting}, {name}!",
            "path": request.path(),
            "route": request.route_id(),
        }
        headers = [("content-type", "application/json")]
        return Response(200, headers, json.dumps(body).encode())

"""Checks the gateway's OpenAPI document as a user's tooling would: it must validate as
OpenAPI 3.1 (openapi-spec-validator), list every endpoint of a plugin's README table (the
admin or the trading-control plugin), and describe real answers: each (method, path,
status, body) given is validated against the schema the document declares for it.

Usage: openapi_check.py BASE_URL README ANSWERS_JSON
Prints a JSON report: {"endpoints": n, "missing": [...], "mismatches": [...]}.
"""

import json
import re
import sys

import requests
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def documented_endpoints(readme):
    """`METHOD /path` of each row of the README's endpoint table."""
    rows = re.findall(r"^\| `(GET|POST|PUT|DELETE) (/[^`?]*)", readme, re.M)
    return {(method, re.sub(r"\{[^}]*\}", "{}", path)) for method, path in rows}


def listed_endpoints(document):
    return {
        (method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
    }


def answer_schema(document, method, path, status):
    operation = document["paths"][path][method.lower()]
    return operation["responses"][str(status)]["content"]["application/json"]["schema"]


def main():
    base, readme_path, answers_path = sys.argv[1:4]
    document = requests.get(f"{base}/admin/openapi.json", timeout=10).json()
    validate(document)
    with open(readme_path, encoding="utf-8") as readme:
        wanted = documented_endpoints(readme.read())
    missing = sorted(f"{m} {p}" for m, p in wanted - listed_endpoints(document))

    mismatches = []
    with open(answers_path, encoding="utf-8") as answers:
        for method, path, status, body in json.load(answers):
            # The answer's schema with the document around it, so that its
            # "#/components/schemas/..." references resolve.
            schema = {**document, **answer_schema(document, method, path, status)}
            for error in Draft202012Validator(schema).iter_errors(body):
                mismatches.append(f"{method} {path} {status}: {error.json_path}: {error.message}")
    print(json.dumps({
        "openapi": document["openapi"],
        "endpoints": len(listed_endpoints(document)),
        "missing": missing,
        "mismatches": mismatches,
    }))


if __name__ == "__main__":
    main()

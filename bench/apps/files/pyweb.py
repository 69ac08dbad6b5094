"""The bench's `python-web` app: a WSGI app served by gunicorn (Debian's package).

GET /item?n=N answers a JSON document computed from N (a SHA-256 chain and a small sum), so a
response is checked by recomputing it: the harness's copy of this function is
bench.apps.workloads.pyweb_body. Anything else is 404."""
import hashlib
import json
from urllib.parse import parse_qs


def body(n: int) -> bytes:
    h = str(n).encode()
    for _ in range(50):
        h = hashlib.sha256(h).hexdigest().encode()
    doc = {"n": n, "digest": h.decode(), "squares": sum(i * i for i in range(n % 1000))}
    return json.dumps(doc, sort_keys=True).encode() + b"\n"


def app(environ, start_response):
    if environ.get("PATH_INFO") != "/item":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    try:
        n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["0"])[0])
    except ValueError:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"n must be an integer\n"]
    out = body(n)
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]

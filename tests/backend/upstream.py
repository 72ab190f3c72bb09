"""An app's backend as its developer would write it, in another language than the platform:
it verifies `Tma-Identity` with PyJWT against the platform's JWKS and answers with what it
verified. Used by tests/tests/backends.rs.

Environment: JWKS_URL, AUDIENCE (the app id), ISSUER (the platform's API URL). It listens on
a free loopback port and prints `listening on PORT` once it accepts connections.

    GET /_seen              paths that reached it (the test checks what never did)
    GET|POST /.../download?bytes=N   N bytes of a fixed pattern, streamed
    any other request       {"path", "method", "body_bytes", "body_sha256", "identity", "error",
                             and the forwarded headers}; 401 when the token does not verify
"""

import hashlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

JWKS = jwt.PyJWKClient(os.environ["JWKS_URL"])
AUDIENCE = os.environ["AUDIENCE"]
ISSUER = os.environ["ISSUER"]
PATTERN = bytes(range(256)) * 256  # 64 KiB

seen = []
seen_lock = threading.Lock()


def verify(token):
    """The ten lines a backend needs: the key named by `kid`, EdDSA only, this app, this platform."""
    key = JWKS.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        """The request body through a hash, 64 KiB at a time (never held whole)."""
        digest, size = hashlib.sha256(), 0
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                while n:
                    chunk = self.rfile.read(min(n, 65536))
                    digest.update(chunk)
                    size += len(chunk)
                    n -= len(chunk)
                self.rfile.read(2)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                remaining -= len(chunk)
        return size, digest.hexdigest()

    def answer(self):
        url = urlsplit(self.path)
        if url.path == "/_seen":
            with seen_lock:
                return self.reply(200, {"seen": list(seen)})
        with seen_lock:
            seen.append(self.path)
        size, sha = self.read_body()
        if url.path.endswith("/download"):
            total = int(parse_qs(url.query).get("bytes", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            while total:
                n = min(total, len(PATTERN))
                self.wfile.write(PATTERN[:n])
                total -= n
            return
        result = {
            "path": self.path,
            "method": self.command,
            "body_bytes": size,
            "body_sha256": sha,
            "identity": None,
            "error": None,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        token = self.headers.get("Tma-Identity")
        status = 200
        if token:
            try:
                result["identity"] = verify(token)
            except jwt.PyJWTError as e:
                status = 401
                result["error"] = f"{type(e).__name__}: {e}"
        self.reply(status, result)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

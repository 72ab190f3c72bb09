"""An app's backend as its developer would write it, in another language than the platform:
it verifies `Tma-Identity` with PyJWT against the platform's JWKS and answers with what it
verified. Used by tests/tests/backends.rs.

Environment: JWKS_URL, AUDIENCE (the app id), ISSUER (the platform's API URL). It listens on
two free loopback ports, HTTP and WebSocket (the `websockets` library), and prints
`listening on HTTP_PORT WS_PORT` once both accept connections.

    GET /_seen              paths that reached it (the test checks what never did)
    GET|POST /.../download?bytes=N   N bytes of a fixed pattern, streamed
    any other request       {"path", "method", "body_bytes", "body_sha256", "identity", "error",
                             and the forwarded headers}; 401 when the token does not verify
    WebSocket, any path     first a text message {"path", "identity", "error", "protocol"},
                            then every message echoed back as it came (text or binary)
"""

import hashlib
import json
import logging
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from websockets.sync.server import serve as websocket_server

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
        # The edge answers with its own request id, never this one.
        self.send_header("X-Request-Id", "upstream-7")
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
        if url.path.endswith("/events"):
            # Two events `pause` seconds apart: a stream that is silent between them.
            pause = float(parse_qs(url.query).get("pause", ["0"])[0])
            first, second = b"data: one\n\n", b"data: two\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(first) + len(second)))
            self.end_headers()
            self.wfile.write(first)
            self.wfile.flush()
            time.sleep(pause)
            self.wfile.write(second)
            return
        if url.path.endswith("/set-cookies"):
            # What a careless or hostile backend sends: a cookie for every app under a parent
            # domain, and ones named like the platform's session and launch cookies.
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.send_header("Set-Cookie", "theme=dark; Path=/")
            self.send_header("Set-Cookie", "wide=1; Domain=localhost; Path=/")
            self.send_header("Set-Cookie", "__Host-tma_session=forged; Path=/; Secure")
            self.send_header("Set-Cookie", "__secure-TMA_SESSION=forged; Secure")
            self.send_header("Set-Cookie", "__Host-tma_launch=forged; Path=/; Secure")
            self.end_headers()
            return
        if url.path.endswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", parse_qs(url.query).get("to", ["/"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if url.path.endswith("/download"):
            total = int(parse_qs(url.query).get("bytes", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            try:
                while total:
                    n = min(total, len(PATTERN))
                    self.wfile.write(PATTERN[:n])
                    total -= n
            except (BrokenPipeError, ConnectionResetError):
                # The edge let go of the answer (its reader stopped reading).
                with seen_lock:
                    seen.append("aborted:" + self.path)
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


def websocket(ws):
    path = ws.request.path
    with seen_lock:
        seen.append("ws:" + path)
    hello = {"path": path, "identity": None, "error": None, "protocol": ws.subprotocol}
    token = ws.request.headers.get("Tma-Identity")
    if token:
        try:
            hello["identity"] = verify(token)
        except jwt.PyJWTError as e:
            hello["error"] = f"{type(e).__name__}: {e}"
    ws.send(json.dumps(hello))
    for message in ws:
        ws.send(message)


def chat(ws, offered):
    """`chat.v1` when the client offers it; no subprotocol otherwise."""
    return "chat.v1" if "chat.v1" in offered else None


def main():
    # The edge ends idle tunnels by closing the connection, as a proxy does; the library would
    # log each as a failed handler.
    logging.getLogger("websockets.server").setLevel(logging.CRITICAL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sockets = websocket_server(websocket, "127.0.0.1", 0, select_subprotocol=chat, max_size=16 * 2**20)
    threading.Thread(target=sockets.serve_forever, daemon=True).start()
    print(f"listening on {server.server_address[1]} {sockets.socket.getsockname()[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Helpers of run.sh: the bundle, a session cookie, the nginx and ceiling mirror and the result table.

Standard library only, so the benchmark needs nothing from PyPI.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import socket
import sys
import time
import urllib.parse

SMALL_FILES = 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def code(rng, size):
    """JavaScript-like text: compresses about as well as a real bundle."""
    words = ["const", "let", "function", "return", "=>", "{", "}", "(", ")", ";", "props", "await",
             "import", "export", "useState", "document", "window", "Telegram.WebApp", "null", "true"]
    parts, n = [], 0
    while n < size:
        w = f"{rng.choice(words)} v{rng.randrange(3000)}" + rng.choice(" ;\n")
        parts.append(w)
        n += len(w)
    return "".join(parts)[:size]


def bundle(dist):
    """2 KB index.html, 150 KB JS, 20 KB CSS, a 1 MB binary, 1,000 small files."""
    rng = random.Random(7)
    os.makedirs(f"{dist}/assets/icons")
    js, css = "assets/app.3f9a1c2e.js", "assets/app.8d2b4e61.css"
    head = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Bench</title><script src="https://telegram.org/js/telegram-web-app.js"></script>'
            f'<link rel="stylesheet" href="/{css}"><script type="module" src="/{js}"></script></head><body>')
    page = head + "<div id=root>" + code(rng, 2048 - len(head) - 30) + "</div></body></html>"
    open(f"{dist}/index.html", "w").write(page[:2048])
    open(f"{dist}/{js}", "w").write(code(rng, 150 * 1024))
    open(f"{dist}/{css}", "w").write(("." + code(rng, 20 * 1024)).replace(";", "{color:red}"))
    open(f"{dist}/assets/model.bin", "wb").write(rng.randbytes(1024 * 1024))
    paths = []
    for i in range(SMALL_FILES):
        p = f"assets/icons/i{i:04d}.{hashlib.sha256(str(i).encode()).hexdigest()[:8]}.svg"
        body = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="{code(rng, rng.randrange(300, 3000))}"/></svg>'
        open(f"{dist}/{p}", "w").write(body)
        paths.append("/" + p)
    open(f"{dist}/../paths.txt", "w").write("\n".join(paths) + "\n")


def init_data(token, user_id=1001, signature=False):
    """Launch data signed with the bot's token, as Telegram clients receive it. `signature`:
    with the Ed25519 `signature` field current clients add (random here: the edge checks the
    HMAC, and @tma.js/sdk only requires the field)."""
    fields = {
        "auth_date": str(int(time.time())),
        "user": json.dumps({"id": user_id, "first_name": "Load", "username": "load_test", "language_code": "en"}),
        "chat_type": "sender",
    }
    if signature:
        fields["signature"] = base64.urlsafe_b64encode(os.urandom(64)).decode().rstrip("=")
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urllib.parse.urlencode(fields)


def session(edge, host, token):
    """POSTs launch data to /_tma/session and prints the session cookie (name=value)."""
    c = http.client.HTTPConnection(edge)
    c.request("POST", "/_tma/session", json.dumps({"init_data": init_data(token)}),
              {"Host": host, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, f"session: {r.status}"
    print(r.getheader("Set-Cookie").split(";")[0])


def session_body(token, path):
    """Writes the JSON body of POST /_tma/session (fresh launch data) to path."""
    open(path, "w").write(json.dumps({"init_data": init_data(token)}))


def mirror(edge, host, cookie, dist, root):
    """Copies the deployed representations to nginx's root: the original, and the .br/.gz the
    edge serves, so both servers send the same bytes. Writes root/../headers.json for the
    ceiling server: per path, the headers the edge sent with each representation."""
    c = http.client.HTTPConnection(edge)
    hop = {"date", "content-length", "transfer-encoding", "connection", "keep-alive"}
    captured = {}
    for base, _, files in os.walk(dist):
        for name in files:
            rel = os.path.relpath(os.path.join(base, name), dist)
            os.makedirs(os.path.dirname(f"{root}/{rel}"), exist_ok=True)
            paths = ["/" + rel] + (["/"] if rel == "index.html" else [])
            for path in paths:
                reps = captured.setdefault(path, {"file": rel, "reps": {}})["reps"]
                for enc, ext in [(None, ""), ("br", ".br"), ("gzip", ".gz")]:
                    headers = {"Host": host, "Cookie": cookie}
                    if enc:
                        headers["Accept-Encoding"] = enc
                    c.request("GET", path, headers=headers)
                    r = c.getresponse()
                    body = r.read()
                    assert r.status == 200, f"{path}: {r.status}"
                    if r.getheader("Content-Encoding") == enc:
                        open(f"{root}/{rel}{ext}", "wb").write(body)
                        reps[enc or ""] = [[k, v] for k, v in r.getheaders() if k.lower() not in hop]
    with open(f"{root}/../headers.json", "w") as f:
        json.dump(captured, f)


def wait_brotli(api, token, edge, host, cookie, path):
    """Waits until the deployment lists no pending brotli variant and the edge sends brotli for
    `path` (it re-reads a manifest with pending variants once a second)."""
    deadline = time.time() + 300
    url = urllib.parse.urlsplit(api)
    while True:
        c = http.client.HTTPConnection(url.netloc)
        c.request("GET", "/api/v1/bots/bench_bot/apps/main/deployments/v1/files",
                  headers={"Authorization": f"Bearer {token}"})
        r = c.getresponse()
        files = json.loads(r.read())
        assert r.status == 200, f"files: {r.status}"
        pending = sum(1 for f in files if f["pending_encodings"])
        e = http.client.HTTPConnection(edge)
        e.request("GET", path, headers={"Host": host, "Cookie": cookie, "Accept-Encoding": "br"})
        res = e.getresponse()
        res.read()
        if pending == 0 and res.getheader("Content-Encoding") == "br":
            return
        assert time.time() < deadline, f"brotli variants still pending after 300 s: {pending}"
        time.sleep(0.2)


def etag(addr, host, cookie, path):
    c = http.client.HTTPConnection(addr)
    c.request("GET", path, headers={"Host": host, "Cookie": cookie, "Accept-Encoding": "br, gzip"})
    r = c.getresponse()
    r.read()
    return r.getheader("ETag")


def table(results):
    """results: lines 'round scenario server requests secs p50_us p99_us errors'; servers are
    tmahost, nginx and ceiling (the bare actix-web server); a scenario may lack the last two."""
    rows = {}
    for line in open(results):
        rnd, scen, server, reqs, secs, p50, p99, errs = line.split()
        r = rows.setdefault((scen, server), {"rps": [], "p50": [], "p99": [], "errors": 0})
        r["rps"].append(int(reqs) / float(secs))
        r["p50"].append(float(p50))
        r["p99"].append(float(p99))
        r["errors"] += int(errs)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    scenarios = list(dict.fromkeys(s for s, _ in rows))
    servers = ["tmahost", "nginx", "ceiling"]
    print(f"{'scenario':<20}{'tmahost':>9}{'nginx':>9}{'ceiling':>9}{'/nginx':>8}{'/ceil':>7}"
          f"{'p99 ms tma/ngx/ceil':>22}{'p99/ngx':>9}{'errors':>8}")
    for s in scenarios:
        got = {v: rows.get((s, v)) for v in servers}
        rps = {v: med(r["rps"]) if r else None for v, r in got.items()}
        p99 = {v: med(r["p99"]) / 1000 if r else None for v, r in got.items()}
        num = lambda x, f: "-" if x is None else format(x, f)
        ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.2f}x"
        errors = sum(r["errors"] for r in got.values() if r)
        print(f"{s:<20}" + "".join(f"{num(rps[v], ',.0f'):>9}" for v in servers)
              + f"{ratio(rps['tmahost'], rps['nginx']):>8}{ratio(rps['tmahost'], rps['ceiling']):>7}"
              + f"{' / '.join(num(p99[v], '.2f') for v in servers):>22}"
              + f"{ratio(p99['tmahost'], p99['nginx']):>9}{errors:>8}")
    rounds = len(rows[(scenarios[0], "tmahost")]["rps"])
    print(f"(req/s, median of {rounds} rounds; ceiling = a bare server (hyper, the edge's stack, or actix-web with CEILING_STACK=actix) answering the same bytes and "
          f"headers from memory; errors = non-2xx/3xx responses and socket errors, all servers)")

def propagation(api, token, edge, host, cookie, bot, runs):
    """Deploys `runs` new versions of the bot's main app through the API, one at a time, and
    measures from the API's answer until the edge serves the new page (polled over one kept
    connection). Prints the median, p90 and max in ms."""
    import io
    import zipfile
    times = []
    c = http.client.HTTPConnection(edge)
    a = http.client.HTTPConnection(api)
    for i in range(int(runs)):
        marker = f"version-{i}-{random.randrange(1 << 30)}"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("index.html", f"<!doctype html><title>{marker}</title><h1>{marker}</h1>")
            z.writestr("app.js", f"console.log('{marker}')")
        a.request("POST", f"/api/v1/bots/{bot}/apps/main/deployments", buf.getvalue(),
                  {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"})
        r = a.getresponse()
        body = r.read()
        assert r.status == 201, f"deploy: {r.status} {body[:200]}"
        t0 = time.perf_counter()
        while True:
            c.request("GET", "/", headers={"Host": host, "Cookie": cookie})
            r = c.getresponse()
            if marker.encode() in r.read():
                break
            assert time.perf_counter() - t0 < 30, "the new version never appeared"
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f"{times[len(times) // 2]:.1f} {times[int(len(times) * 0.9)]:.1f} {times[-1]:.1f}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "port":
        print(free_port())
    elif cmd == "bundle":
        bundle(*args)
    elif cmd == "session":
        session(*args)
    elif cmd == "session-body":
        session_body(*args)
    elif cmd == "mirror":
        mirror(*args)
    elif cmd == "wait-brotli":
        wait_brotli(*args)
    elif cmd == "etag":
        print(etag(*args))
    elif cmd == "propagation":
        propagation(*args)
    elif cmd == "table":
        table(*args)
    else:
        sys.exit(f"unknown command {cmd}")

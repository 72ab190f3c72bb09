#!/usr/bin/env python3
"""Launch times of a Mini App in headless Chromium, driven through the DevTools protocol.

Usage: launch.py TOKEN TMAHOST_URL NGINX_URL RUNS LATENCY...

For each added latency (Network.emulateNetworkConditions: every request, navigations included,
waits that long for its response headers), RUNS times and alternating the servers, a launch as
a Telegram client makes it: a fresh browser context (no cookies, empty cache), a tab, the app's
URL with launch parameters in the fragment. The launch is over when the app has rendered its
first screen (the template's "Application Launch Data" section is in the DOM), timed from just
before the navigation began to the moment the page's own clock saw that text. Then a second
launch in a new tab of the same context (the cookie and HTTP cache kept, as a second open of
the app in Telegram): the warm launch. tmahost is also timed with `document.cookie` disabled,
which makes its gate page fall back to `POST /_tma/session` and a second load (the way every
launch went before the launch cookie). Prints one JSON line per launch and a table of medians.
Needs `websockets` (pip).
"""
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

from websockets.sync.client import connect

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench import init_data  # noqa: E402

CHROMIUM = "chromium"
# What the template shows once it runs with launch parameters (its "unsupported" screen has
# none of it).
RENDERED = "Application Launch Data"
# Telegram's mobile clients inject TelegramWebviewProxy into the app's pages; the SDK sends its
# events there. Injected into every document, with the observer that records the launch.
PAGE_SCRIPT = """
window.TelegramWebviewProxy = { postEvent: function () {} };
new MutationObserver(function (_, observer) {
  var root = document.getElementById("root");
  if (root && root.textContent.indexOf(%s) !== -1) {
    window.__launched = performance.timeOrigin + performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true, characterData: true });
""" % json.dumps(RENDERED)
THEME = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#999999", "link_color": "#2481cc",
         "button_color": "#2481cc", "button_text_color": "#ffffff", "secondary_bg_color": "#efeff3"}


class Browser:
    """Headless Chromium and one DevTools connection (flat sessions)."""

    def __init__(self):
        self.profile = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--remote-debugging-port=0", f"--user-data-dir={self.profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if line.startswith("DevTools listening on "):
                self.ws = connect(line.split(" ", 3)[3].strip(), max_size=None, open_timeout=30).__enter__()
                break
        else:
            sys.exit("chromium exited before it listened for DevTools")
        self.next_id = 0

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def tab(self, context, latency, no_page_cookies):
        target = self.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        if no_page_cookies:
            # Scripts cannot set cookies: the gate page falls back to POST /_tma/session.
            self.call("Emulation.setDocumentCookieDisabled", {"disabled": True}, session)
        self.call("Network.enable", {}, session)
        self.call("Network.emulateNetworkConditions",
                  {"offline": False, "latency": latency, "downloadThroughput": -1, "uploadThroughput": -1}, session)
        self.call("Page.enable", {}, session)
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_SCRIPT}, session)
        return target, session

    def launch(self, session, url):
        """Milliseconds from the navigation's start to the rendered first screen."""
        start = time.time() * 1000
        self.call("Page.navigate", {"url": url}, session)
        deadline = time.time() + 60
        while time.time() < deadline:
            got = self.call("Runtime.evaluate", {"expression": "window.__launched || 0", "returnByValue": True},
                            session)
            done = got.get("result", {}).get("value") or 0
            if done:
                return done - start
            time.sleep(0.01)
        text = self.call("Runtime.evaluate", {"expression": "document.body && document.body.innerText",
                                              "returnByValue": True}, session)
        raise RuntimeError(f"{url} did not render within 60 s; the page says: {text.get('result', {}).get('value')!r}")

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait()
        self.profile.cleanup()


def app_url(base, token, user_id):
    params = {"tgWebAppData": init_data(token, user_id, signature=True), "tgWebAppVersion": "8.0", "tgWebAppPlatform": "android",
              "tgWebAppThemeParams": json.dumps(THEME)}
    return f"{base}/#{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def main():
    token, tmahost, nginx, runs, latencies = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    browser = Browser()
    results = {}
    try:
        for latency in map(int, latencies):
            for run in range(runs):
                for server, base, post in [("tmahost", tmahost, False), ("post", tmahost, True),
                                           ("nginx", nginx, False)]:
                    context = browser.call("Target.createBrowserContext")["browserContextId"]
                    first, session = browser.tab(context, latency, post)
                    cold = browser.launch(session, app_url(base, token, 5000 + run))
                    browser.call("Target.closeTarget", {"targetId": first})
                    _, session = browser.tab(context, latency, post)
                    warm = browser.launch(session, app_url(base, token, 5000 + run))
                    browser.call("Target.disposeBrowserContext", {"browserContextId": context})
                    row = {"server": server, "latency_ms": latency, "run": run + 1, "cold_ms": round(cold, 1),
                           "warm_ms": round(warm, 1)}
                    print(json.dumps(row), file=sys.stderr)
                    for kind in ("cold", "warm"):
                        results.setdefault((latency, kind, server), []).append(row[f"{kind}_ms"])
    finally:
        browser.close()
    print(f"| added latency | launch | tmahost (median of {runs}) | nginx, no gate | difference | "
          "in round trips | target | tmahost, POST fallback |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for latency in map(int, latencies):
        for kind in ("cold", "warm"):
            ours = statistics.median(results[(latency, kind, "tmahost")])
            theirs = statistics.median(results[(latency, kind, "nginx")])
            post = statistics.median(results[(latency, kind, "post")])
            # Cold: one round trip (the gate page, which must read the fragment) plus 10%;
            # warm: within 10% of nginx.
            limit = (theirs + latency) * 1.1 if kind == "cold" else theirs * 1.1
            verdict = "met" if ours <= limit else "missed"
            print(f"| {latency} ms | {kind} | {ours:.0f} ms | {theirs:.0f} ms | {ours - theirs:+.0f} ms | "
                  f"{(ours - theirs) / latency:+.2f} | {verdict} (<= {limit:.0f} ms) | {post:.0f} ms |")


if __name__ == "__main__":
    main()

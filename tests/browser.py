"""Open a page in a real headless Chromium and report console errors, failed loads and images.

Drives Chromium through the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so nothing but the browser is needed: no
driver, no websocket library. Debian's package is ``chromium`` (installed by .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["find_chromium", "PageReport", "open_page", "Page"]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--disable-dev-shm-usage", "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    title: str = ""
    text: str = ""


class _Pipe:
    def __init__(self, binary: str, profile: str) -> None:
        import fcntl

        def high(fd: int) -> int:  # a copy at 10 or above, out of the way of 3 and 4
            new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return new

        a, self._w = os.pipe()
        self._r, b = os.pipe()
        to_chrome_r, from_chrome_w = high(a), high(b)

        # the protocol wants fds 3 (to chromium) and 4 (from chromium): the shell moves the
        # pipe ends there (no preexec_fn, which is unsafe in a threaded process; bash, since
        # dash cannot redirect file descriptors above 9)
        move = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", move, binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self.read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def read(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            m = self.read(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
  scheme: i.src.split(':')[0]})))"""


def open_page(path: Path, binary: str, timeout: float = 60.0) -> PageReport:
    """Load ``path`` (a local HTML file) and collect what went wrong."""
    with tempfile.TemporaryDirectory(prefix="healthnn-chromium-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
            session = pipe.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                          "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
            pipe.wait_for("Page.loadEventFired", timeout=timeout)
            res = pipe.send("Runtime.evaluate", {"expression": _IMAGES_JS, "returnByValue": True},
                            session=session)
            images = json.loads(res["result"]["value"])
            title = pipe.send("Runtime.evaluate", {"expression": "document.title",
                                                   "returnByValue": True},
                              session=session)["result"]["value"]
            text = pipe.send("Runtime.evaluate", {"expression": "document.body.innerText",
                                                  "returnByValue": True},
                             session=session)["result"]["value"]
            time.sleep(0.3)  # late console messages
            pipe.send("Runtime.evaluate", {"expression": "1"}, session=session)
        finally:
            pipe.close()
    rep = PageReport(images=images, title=title, text=text)
    for m in pipe.events:
        method, p = m.get("method"), m.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            rep.console_errors.append(" ".join(str(a.get("value", a.get("description")))
                                               for a in p.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            rep.exceptions.append(p.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            rep.log_errors.append(p["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            rep.requested_urls.append(p.get("request", {}).get("url", "")[:120])
        elif method == "Network.loadingFailed":
            rep.failed_requests.append(p.get("errorText", ""))
    return rep


class Page:
    """A live page to drive: evaluate JavaScript, wait for conditions, choose files.

    >>> with Page(find_chromium()) as page:                       # doctest: +SKIP
    ...     page.goto("http://127.0.0.1:8000/")
    ...     page.js("document.title")
    """

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.binary, self.timeout = binary, timeout

    def __enter__(self) -> Page:
        self._profile = tempfile.TemporaryDirectory(prefix="healthnn-chromium-")
        self.pipe = _Pipe(self.binary, self._profile.name)
        target = self.pipe.send("Target.createTarget", {"url": "about:blank"},
                                timeout=self.timeout)
        self.session = self.pipe.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                                "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "DOM"):
            self.pipe.send(f"{domain}.enable", session=self.session)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pipe.close()
        self._profile.cleanup()

    def goto(self, url: str) -> None:
        self.pipe.send("Page.navigate", {"url": url}, session=self.session)
        self.pipe.wait_for("Page.loadEventFired", timeout=self.timeout)

    def js(self, expression: str):
        """The value of a JavaScript expression (promises are awaited)."""
        res = self.pipe.send("Runtime.evaluate", {"expression": expression,
                                                  "returnByValue": True, "awaitPromise": True},
                             session=self.session, timeout=self.timeout)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JavaScript error: {res['exceptionDetails'].get('text')}: "
                               f"{res['result'].get('description', '')}")
        return res["result"].get("value")

    def wait(self, condition: str, timeout: float | None = None) -> None:
        """Wait until a JavaScript expression is truthy."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.js(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for: {condition}")
            time.sleep(0.1)

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Choose files in an <input type=file> (as a user would) and fire 'change'."""
        res = self.pipe.send("Runtime.evaluate", {"expression":
                                                  f"document.querySelector({json.dumps(selector)})"},
                             session=self.session)
        self.pipe.send("DOM.setFileInputFiles", {"files": [str(p) for p in paths],
                                                 "objectId": res["result"]["objectId"]},
                       session=self.session)
        self.js(f"document.querySelector({json.dumps(selector)})"
                ".dispatchEvent(new Event('change', {bubbles: true}))")

    def exceptions(self) -> list[str]:
        return [m.get("params", {}).get("exceptionDetails", {}).get("text", "exception")
                for m in self.pipe.events if m.get("method") == "Runtime.exceptionThrown"]

"""Headless Chromium driven over the DevTools protocol (websocket-client): open a page with the
network off, collect console errors and exceptions, evaluate a check, take a screenshot.

Started on a port of our own (34000-35999) with a new empty profile; stopped by its PID.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

PORTS = range(34000, 36000)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9", "--window-size=1400,1000",
]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    raise RuntimeError("chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)")


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 34000-35999")


class Page:
    def __init__(self, ws) -> None:
        self._ws = ws
        self._id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 60.0, **params) -> dict:
        self._id += 1
        ident = self._id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(method)

    def wait_for(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            message = json.loads(self._ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", "")[:500])
        return errors

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]


def open_page(url: str, screenshot: Path, check_js: str, settle_seconds: float = 2.0) -> tuple[Page, object]:
    """Load `url`, let it draw, evaluate `check_js` (its JSON-able value returned), save a
    full-page PNG to `screenshot`. Returns (page with its events, the check's value)."""
    import websocket

    port = free_port()
    profile = tempfile.mkdtemp(prefix="sweeper-chromium-")
    process = subprocess.Popen(
        [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        targets = None
        while time.monotonic() < deadline and targets is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as answer:
                    found = [t for t in json.load(answer) if t.get("type") == "page"]
                targets = found or None
            except OSError:
                time.sleep(0.3)
        if targets is None:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        page = Page(ws)
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            page.call(domain)
        page.call("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1, uploadThroughput=-1)
        page.call("Page.navigate", url=url)
        page.wait_for("Page.loadEventFired", timeout=120)
        time.sleep(settle_seconds)
        value = page.call("Runtime.evaluate", expression=check_js, returnByValue=True)["result"].get("value")
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        ws.close()
        return page, value
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)

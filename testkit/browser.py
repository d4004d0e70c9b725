"""Headless Chromium over the DevTools protocol: load a page, collect its errors, evaluate, screenshot.

Used by the tests of ``lineage report`` (Debian's ``chromium``; nothing is downloaded). The
flags keep Chromium off the network: the machine's closed network refuses its background
connections otherwise.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--hide-scrollbars",
]


class BrowserUnavailable(RuntimeError):
    pass


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserUnavailable("headless Chromium not found: install Debian's chromium (apt-get install -y chromium)")


@dataclass
class PageLoad:
    errors: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)
    screenshot: bytes = b""


def load_page(url: str, expressions: dict[str, str] | None = None, width: int = 1400, height: int = 1000, timeout: float = 60.0) -> PageLoad:
    """Open ``url``; returns console errors and exceptions, evaluated expressions and a PNG."""
    from websockets.sync.client import connect

    profile = tempfile.mkdtemp(prefix="lineage-chromium-")
    process = subprocess.Popen(
        [find_chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _devtools_port(process, Path(profile), timeout)
        page = next(target for target in json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10)) if target["type"] == "page")
        result = PageLoad()
        with connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=timeout) as socket:
            session = _Session(socket, result)
            for method in ("Runtime.enable", "Log.enable", "Page.enable"):
                session.call(method)
            session.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            session.call("Page.navigate", {"url": url})
            session.wait_for("Page.loadEventFired", timeout)
            for name, expression in (expressions or {}).items():
                answer = session.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
                result.values[name] = answer.get("result", {}).get("value")
            shot = session.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
            result.screenshot = base64.b64decode(shot["data"])
            session.drain(0.2)
        return result
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(process: subprocess.Popen, profile: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserUnavailable(f"chromium exited with {process.returncode}: {process.stderr.read()[-500:]}")
        if port_file.exists():
            text = port_file.read_text().splitlines()
            if text and text[0].isdigit():
                return int(text[0])
        time.sleep(0.05)
    raise BrowserUnavailable("chromium did not open its DevTools port in time")


class _Session:
    def __init__(self, socket, result: PageLoad):
        self.socket = socket
        self.result = result
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        message_id = self.next_id
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def wait_for(self, method: str, timeout: float) -> None:
        if any(event.get("method") == method for event in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            self._event(message)
            if message.get("method") == method:
                return
        raise TimeoutError(f"no {method} within {timeout}s")

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._event(json.loads(self.socket.recv(timeout=max(0.01, deadline - time.monotonic()))))
            except TimeoutError:
                return

    def _event(self, message: dict) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.result.errors.append(params.get("exceptionDetails", {}).get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.result.errors.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.result.errors.append(params["entry"].get("text", "error"))


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, rows, bytes per pixel)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError("only 8-bit RGB/RGBA non-interlaced PNGs are supported")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, channels


def count_color(data: bytes, rgb: tuple[int, int, int], tolerance: int = 24) -> int:
    width, height, rows, channels = png_pixels(data)
    count = 0
    for row in rows:
        for x in range(0, width * channels, channels):
            if all(abs(row[x + i] - rgb[i]) <= tolerance for i in range(3)):
                count += 1
    return count

"""The browsable view end to end in headless Chromium, driven over the DevTools protocol (CDP).

Open a file's page, follow an import to the page of the module that defines it, type a class name in the
search box, press Enter and land on the class's definition. Skipped only when Chromium (Debian's `chromium`)
or the websocket client is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_query import SOURCES
from tests.test_serve import Server, build, running_server, write_tree

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1200,900",
    "--remote-debugging-port=0",
]


class Browser:
    """One Chromium page over CDP: commands by id, events ignored; JavaScript evaluated by value."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=20, suppress_origin=True)
        self.ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message["result"]
                return result

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(AssertionError):
                value = self.eval(expression)
                if value:
                    return value
            time.sleep(0.05)
        raise AssertionError(f"never true: {expression} (at {self.eval('location.href')})")

    def click(self, selector_js: str) -> None:
        """A real mouse click at the centre of the element that `selector_js` evaluates to."""
        box = self.wait(
            f"(() => {{ const e = {selector_js}; if (!e) return null; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Enter",
                code="Enter",
                windowsVirtualKeyCode=13,
                text="\r" if kind == "keyDown" else "",
            )

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot")["data"]))


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[Callable[[], Browser]]:
    assert CHROMIUM is not None
    process = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield lambda: Browser(_page_socket(profile, process))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _page_socket(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The DevTools websocket of Chromium's first page (its port is in DevToolsActivePort)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"chromium exited with {process.returncode}"
        with contextlib.suppress(OSError, ValueError, IndexError, StopIteration):
            port = int((profile / "DevToolsActivePort").read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
                targets = json.loads(answer.read())
            return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise AssertionError("chromium's DevTools endpoint did not come up")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    write_tree(tmp_path / "src", SOURCES)
    build(tmp_path / "src", tmp_path / "out", tmp_path / "cache")
    with running_server(tmp_path / "out") as server:
        yield server


def test_browse_follow_an_import_and_search(served: Server, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as open_page:
        page = open_page()
        page.send("Page.enable")
        page.send("Page.navigate", url=f"{served.base}/docs/app.py_docs.md")
        page.wait("document.readyState === 'complete' && location.pathname === '/docs/app.py_docs.md'")
        assert "app.py" in page.eval("document.querySelector('h1').textContent")

        # An import on app.py's page links to the definition in the module that defines it.
        page.click("[...document.querySelectorAll('main a')].find(a => a.textContent === 'shop.cart.Cart')")
        page.wait("location.pathname === '/docs/shop/cart.py_docs.md' && document.readyState === 'complete'")
        assert page.eval("location.hash") == "#sym-Cart"
        assert page.eval("document.querySelector('h1').textContent") == "shop/cart.py"
        assert page.eval("!!document.getElementById('sym-Cart')")

        # Type a class name in the search box; Enter lands on its definition, on another page.
        page.click("document.getElementById('search-q')")
        page.send("Input.insertText", text="App")
        page.wait("[...document.querySelectorAll('#search-results a')].some(a => a.textContent.includes('App'))")
        page.press_enter()
        page.wait("location.pathname === '/docs/app.py_docs.md' && location.hash === '#sym-App'")
        page.wait("document.readyState === 'complete' && !!document.getElementById('sym-App')")
        top = page.eval("document.getElementById('sym-App').getBoundingClientRect().top")
        assert 0 <= top < page.eval("innerHeight"), top

        # And a search whose result is on the current page scrolls to the anchor.
        page.click("document.getElementById('search-q')")
        page.eval("document.getElementById('search-q').value = ''")
        page.send("Input.insertText", text="CartItem")
        page.wait("[...document.querySelectorAll('#search-results a')].some(a => a.textContent.includes('CartItem'))")
        page.click("document.querySelector('#search-results a')")
        page.wait("location.pathname === '/docs/shop/cart.py_docs.md' && location.hash === '#sym-CartItem'")
        page.wait("document.readyState === 'complete' && !!document.getElementById('sym-CartItem')")
        page.screenshot(tmp_path / "cart.png")
        assert (tmp_path / "cart.png").stat().st_size > 1000

"""A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol with aiohttp's
websocket client: navigate, evaluate, click and type as a user would, and take screenshots."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from conftest import stop_process


class Browser:
    """One page of a headless Chromium started in `folder` (its profile); `close()` stops it."""

    def __init__(self, process: subprocess.Popen, socket: aiohttp.ClientWebSocketResponse,
                 session: aiohttp.ClientSession) -> None:
        self.process, self.socket, self.session = process, socket, session
        self._ids = itertools.count(1)

    @classmethod
    async def start(cls, folder: Path, width: int = 1400, height: int = 1000) -> "Browser":
        binary = shutil.which("chromium")
        if binary is None:  # not a skip: ./setup.sh installs it
            pytest.fail("chromium is not installed: run ./setup.sh (it installs Debian's chromium)", pytrace=False)
        log = open(folder / "chromium.log", "w+")
        process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--remote-debugging-port=0", "--remote-allow-origins=*",
             f"--user-data-dir={folder / 'profile'}", f"--window-size={width},{height}", "about:blank"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while not (port := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", Path(log.name).read_text())):
            assert process.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            await asyncio.sleep(0.1)
        session = aiohttp.ClientSession()
        async with session.get(f"http://127.0.0.1:{port[1]}/json/list") as answer:
            page = next(target for target in await answer.json() if target["type"] == "page")
        socket = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 << 20)
        browser = cls(process, socket, session)
        await browser.send("Page.enable")
        await browser.send("Runtime.enable")
        return browser

    async def send(self, method: str, **params) -> dict:
        """One DevTools command; its result (events that come meanwhile are dropped)."""
        ident = next(self._ids)
        await self.socket.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = json.loads((await asyncio.wait_for(self.socket.receive(), 60)).data)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, seconds: float = 30):
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + seconds
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {seconds} s: {expression}")
            await asyncio.sleep(0.1)
        return value

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                                  f"e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); "
                                  f"return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def type(self, selector: str, text: str) -> None:
        """Click into a field, select what it holds, and type `text` over it (real key input)."""
        await self.click(selector)
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        await self.send("Input.insertText", text=text)

    async def choose(self, selector: str, value: str) -> None:
        """Pick an option of a <select>, as its drop-down does (the change event included)."""
        await self.click(selector)
        await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.value = "
                            f"{json.dumps(value)}; e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()")

    async def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG at `path`."""
        size = await self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    async def close(self) -> None:
        await self.socket.close()
        await self.session.close()
        stop_process(self.process)

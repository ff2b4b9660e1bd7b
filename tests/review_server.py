"""A real ``unseen review`` for tests: started as a user starts it, in its own process.

`start` runs the command with ``--no-browser`` and a private TMPDIR (so a
test can see the preview folder appear and go), reads the address it prints
and hands back a `Review` that can talk HTTP to it the way a browser or an
attacker would: raw paths, any Host header, with or without the cookie.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conftest import unseen_cmd

URL = re.compile(r"review page: (http://127\.0\.0\.1:(\d+)/\?t=([A-Za-z0-9_-]+))")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Review:
    proc: subprocess.Popen[str]
    url: str
    port: int
    token: str
    tmp: Path
    cookie: str = ""
    page: str = ""
    swap: Answer | None = None
    stderr: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        host: str | None = None,
        cookie: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """One request with ``path`` sent exactly as given (no normalising of ``..``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host if host is not None else f"127.0.0.1:{self.port}")
            if cookie and self.cookie:
                conn.putheader("Cookie", self.cookie)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            answer = conn.getresponse()
            return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            conn.close()

    def sign_in(self) -> Answer:
        """Trade the printed token for the cookie, as the browser does on its first visit (the token
        works once: later calls give back that first answer)."""
        if self.swap is not None:
            return self.swap
        parts = urlsplit(self.url)
        swap = self.request(f"/?{parts.query}", cookie=False)
        self.cookie = swap.headers["set-cookie"].split(";", 1)[0]
        page = self.request("/")
        found = re.search(rb'name="unseen-page" content="([^"]+)"', page.body)
        assert found, page.body[:300]
        self.page = found.group(1).decode()
        self.swap = swap
        return swap

    def post(self, path: str, data: bytes = b"{}") -> Answer:
        return self.request(
            path,
            method="POST",
            headers={"X-Unseen-Page": self.page, "Content-Type": "application/json"},
            body=data,
        )

    def previews(self) -> list[Path]:
        return sorted(self.tmp.glob("unseen-review-*"))

    def finish(self, how: str = "done", timeout: float = 120) -> int:
        """End the review: the page's Done, or a signal; returns the exit code."""
        if how == "done":
            assert self.post("/api/done").status == 200
        else:
            self.proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=timeout)
        self.stderr.append(err)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def start(*args: object, tmp: Path, timeout: float = 300) -> Review:
    """``unseen review ARGS --no-browser`` with TMPDIR=tmp, once it prints its address."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp))
    proc = subprocess.Popen(
        unseen_cmd("review", *args, "--no-browser"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    seen = []
    signal.signal(signal.SIGALRM, lambda *_: proc.kill())
    signal.alarm(int(timeout))
    try:
        for line in proc.stderr:
            seen.append(line)
            found = URL.search(line)
            if found:
                return Review(proc, found.group(1), int(found.group(2)), found.group(3), tmp, stderr=seen)
    finally:
        signal.alarm(0)
    proc.wait()
    raise AssertionError("unseen review printed no address:\n" + "".join(seen))

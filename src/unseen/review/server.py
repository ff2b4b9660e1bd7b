"""The review page's web server: loopback only, one person, one run, nothing from outside.

Every request passes `Gate` before any route sees it:

* the ``Host`` header must name this server (``127.0.0.1:PORT`` or
  ``localhost:PORT``), else 400: a page on another site that rebinds its DNS
  name to 127.0.0.1 still sends its own name;
* the random token in the printed URL is swapped, once, for an HttpOnly,
  SameSite=Strict cookie and a redirect to a clean URL (the token does not
  stay in the address bar or history); any request without the cookie gets
  403, so other local users and other sites' pages get nothing;
* a change (any method but GET and HEAD) must also carry the page's own
  header, which no other site can set on a cross-site request, else 403;
* every answer says ``Cache-Control: no-store`` and carries a strict
  Content-Security-Policy: the page loads only its own files.

Pictures are served by a file's random id and a frame index, never by a
path, and the page's scripts and styles come from a fixed table, so there is
no path to traverse.  FastAPI's ``/docs``, ``/redoc`` and ``/openapi.json``
are off (Swagger's page loads from a CDN), and so is uvicorn's access log.
"""

from __future__ import annotations

import secrets
import signal
import socket
import threading
from collections.abc import Callable
from importlib import resources
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PlanError, UsageError
from .session import Edit, Session

WRITE_HEADER = "x-unseen-page"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
STATIC = {"review.js": "text/javascript", "review.css": "text/css"}


class Gate:
    """ASGI middleware: the Host check, the token-for-cookie swap, the cookie, the write header."""

    def __init__(self, app: ASGIApp, port: int, token: str, secret: str, page: str) -> None:
        self.app, self.token, self.secret, self.page = app, token, secret, page
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.cookie = f"unseen-{port}"  # cookies ignore ports: name them by it, so two reviews never clash
        self.used = False  # the printed link is swapped for the cookie once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + SECURITY_HEADERS
            await send(message)

        refused = self._refused(scope)
        await (refused or self.app)(scope, receive, secured)

    def _refused(self, scope: Scope) -> Response | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host") not in self.hosts:
            return Response("wrong Host\n", 400, media_type="text/plain")
        signed_in = self._signed_in(headers.get("cookie", ""))
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "t" in query:
            good = scope["path"] == "/" and secrets.compare_digest(
                query["t"][0].encode(), self.token.encode()
            )
            if signed_in:  # the link again, in the browser that used it: the page, and no new cookie
                return Response(status_code=303, headers={"location": "/"})
            if not good or self.used:
                # The link opens the page once: anyone who reads it later (from a process list, the
                # browser's history, a terminal's scrollback) gets nothing, and a stranger who used
                # it first shows as a refusal in the user's own browser.
                why = "that link has been used; start the review again" if good else "forbidden"
                return Response(why + "\n", 403, media_type="text/plain")
            self.used = True
            swap = Response(status_code=303, headers={"location": "/"})
            swap.set_cookie(self.cookie, self.secret, httponly=True, samesite="strict", path="/")
            return swap
        if not signed_in:
            return Response("forbidden: open the link the command printed\n", 403, media_type="text/plain")
        if scope["method"] not in ("GET", "HEAD"):
            page_ok = secrets.compare_digest(headers.get(WRITE_HEADER, "").encode(), self.page.encode())
            origin_ok = headers.get("origin", next(iter(self.origins))) in self.origins
            if not (page_ok and origin_ok):
                return Response("forbidden: changes come from the page only\n", 403, media_type="text/plain")
        return None

    def _signed_in(self, header: str) -> bool:
        """Whether the Cookie header holds this review's cookie.  Read by hand: a cookie of another
        program on 127.0.0.1 (any port) that `http.cookies` cannot parse made it drop the rest."""
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie and secrets.compare_digest(value.encode(), self.secret.encode()):
                return True
        return False


def build(session: Session, page: str) -> FastAPI:
    """The routes; `Gate` wraps them in `serve`."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer quotes the input back, and a NaN in it made that a 500 with a
        # traceback on the terminal.
        return JSONResponse({"error": "malformed request"}, 422)

    def known(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except KeyError:
            return JSONResponse({"error": "not found"}, 404)

    @app.get("/")
    def index() -> HTMLResponse:
        text = _static("index.html").decode().replace("{{page}}", page)
        return HTMLResponse(text)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)  # browsers ask for one; answering spares a 404 in the console

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response("not found\n", 404, media_type="text/plain")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/api/state")
    def state() -> Any:
        return session.state()

    @app.get("/api/file/{key}")
    def file(key: str) -> Any:
        return known(lambda: session.detail(key))

    @app.get("/api/boxes/{key}/{frame:int}")
    def boxes(key: str, frame: int) -> Any:
        return known(lambda: session.boxes(key, frame))

    @app.get("/api/attention")
    def attention() -> Any:
        return session.queue()

    @app.get("/api/exposure")
    def exposure() -> Any:
        return session.exposure()

    @app.post("/api/edit/{key}")
    def edit(key: str, change: Edit) -> Any:
        def changed() -> Any:
            session.edit(key, change)
            return session.detail(key)

        try:
            return known(changed)
        except PlanError as exc:
            return JSONResponse({"error": str(exc)}, 409)

    @app.post("/api/undo")
    def undo() -> Any:
        return {"key": session.undo()}

    @app.post("/api/apply")
    def apply() -> Any:
        session.start_apply()
        return session.state()

    @app.post("/api/done")
    def done() -> Any:
        session.finish()
        return {"done": True}

    @app.get("/frame/{key}/{frame:int}.jpg")
    def frame(key: str, frame: int, request: Request) -> Response:
        view = request.query_params.get("view", "original")
        if view not in ("original", "covered"):
            return Response("not found\n", 404, media_type="text/plain")

        def jpeg() -> Response:
            f = session.file(key)
            if not 0 <= frame < f.previews.count:
                raise KeyError(frame)
            data = f.previews.jpeg(frame) if view == "original" else session.covered_jpeg(key, frame)
            return Response(data, media_type="image/jpeg")

        return known(jpeg)  # type: ignore[no-any-return]

    @app.get("/thumb/{key}/{ident}.jpg")
    def thumb(key: str, ident: str) -> Response:
        return known(lambda: Response(session.thumb(key, ident), media_type="image/jpeg"))  # type: ignore[no-any-return]

    return app


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


class Server:
    """The review's server on 127.0.0.1 and a free port (or ``port``), with this run's token."""

    def __init__(self, session: Session, port: int = 0) -> None:
        self.session = session
        try:
            self.sock = socket.create_server(("127.0.0.1", port))  # IPv4 loopback only
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        self.port = int(self.sock.getsockname()[1])
        self.token = secrets.token_urlsafe(32)
        page = secrets.token_urlsafe(24)  # the value index.html hands its script for the write header
        app = Gate(build(session, page), self.port, self.token, secrets.token_urlsafe(32), page)
        config = uvicorn.Config(
            app,
            access_log=False,
            log_config=None,
            log_level="warning",
            lifespan="off",
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?t={self.token}"

    def run(self) -> None:
        """Serve until the page is done or Ctrl-C (or SIGTERM, taken as Ctrl-C); Apply runs here."""
        previous = signal.signal(signal.SIGTERM, _interrupt)
        thread = threading.Thread(
            target=self.server.run, args=([self.sock],), name="unseen-review", daemon=True
        )
        thread.start()
        try:
            self.session.work()
        finally:
            self.server.should_exit = True
            thread.join(timeout=10)
            self.sock.close()
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt

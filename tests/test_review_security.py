"""The review page's server as an attacker meets it: a real ``unseen review`` in its own process.

It must listen on 127.0.0.1 only, answer a foreign Host with 400 (DNS
rebinding), answer 403 to anyone without the cookie that the printed token
buys, refuse changes without the page's header, serve nothing by path, send
``no-store`` and a strict CSP on every answer, log no requests, and remove
its previews (original pixels) when it ends, by Done, Ctrl-C or SIGTERM.
Frame n on the page is frame n of the plan: the server renders it by index.
"""

from __future__ import annotations

import io
import json
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import save, write_clip
from review_server import Answer, Review, start

TRAVERSALS = [
    "/static/../review/session.py",
    "/static/..%2fsession.py",
    "/static/%2e%2e%2fsession.py",
    "/static/%2e%2e/%2e%2e/plan.py",
    "/static/..%5csession.py",
    "/static/%252e%252e%252fsession.py",
    "/static/....//session.py",
    "/static/review.js/../../session.py",
    "/static/session.py",
    "/static/index.html%00.js",
    "/frame/..%2f..%2f..%2fetc%2fpasswd/0.jpg",
    "/frame/KEY/../0.jpg",
    "/frame/KEY/..%2f0.jpg",
    "/thumb/KEY/..%2f..%2fr1.jpg",
    "/thumb/../../etc/passwd.jpg",
    "/api/file/..%2f..%2fetc%2fpasswd",
    "/api/file/KEY%2f..%2f..",
    "//etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Iterator[Review]:
    folder = tmp_path_factory.mktemp("security")
    photo = save(astronaut, folder / "in" / "astronaut.png")
    server = start(photo, "-o", folder / "out", tmp=folder / "tmp")
    try:
        yield server
    finally:
        server.kill()


def secured(answer: Answer) -> None:
    assert answer.headers.get("cache-control") == "no-store", answer.headers
    csp = answer.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "http" not in csp, csp


def key_of(review: Review) -> str:
    state = json.loads(review.request("/api/state").body)
    return str(state["files"][0]["key"])


def test_without_the_token_everything_is_forbidden(review: Review) -> None:
    for path in ["/", "/api/state", "/static/review.js", "/frame/x/0.jpg", "/docs", "/nothing"]:
        answer = review.request(path, cookie=False)
        assert answer.status == 403, path
        secured(answer)
    wrong = review.request("/?t=" + "A" * len(review.token), cookie=False)
    assert wrong.status == 403 and "set-cookie" not in wrong.headers


def test_the_token_is_swapped_for_a_strict_cookie_and_a_clean_url(review: Review) -> None:
    swap = review.sign_in()
    assert swap.status == 303 and swap.headers["location"] == "/", "redirected to a URL without the token"
    cookie = swap.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict"), cookie
    assert review.token not in cookie, "the cookie is not the token from the URL"
    secured(swap)
    page = review.request("/")
    assert page.status == 200 and b"unseen review" in page.body
    secured(page)
    for path in ["/api/state", "/static/review.js", "/static/review.css", f"/frame/{key_of(review)}/0.jpg"]:
        answer = review.request(path)
        assert answer.status == 200, path
        secured(answer)
    name = review.cookie.split("=", 1)[0]
    forged = review.request("/api/state", headers={"Cookie": f"{name}=guess"}, cookie=False)
    assert forged.status == 403, "only the cookie's own value opens the page"


def test_the_printed_link_opens_the_page_once(review: Review) -> None:
    """The link can be read later (a process list, history, scrollback): it then opens nothing."""
    review.sign_in()
    again = review.request("/?t=" + review.token, cookie=False)
    assert again.status == 403 and "set-cookie" not in again.headers and b"used" in again.body
    signed = review.request("/?t=" + review.token)  # the browser that used it: the page, no new cookie
    assert signed.status == 303 and "set-cookie" not in signed.headers


def test_another_program_s_cookie_does_not_lock_the_user_out(review: Review) -> None:
    """Cookies ignore ports: a local app's cookie that Python's parser cannot read came first and
    hid the review's own, so every request got 403."""
    review.sign_in()
    for other in ['prefs={"theme":"dark"}', "name=two words", "x=\u00e9t\u00e9"]:
        answer = review.request("/api/state", headers={"Cookie": f"{other}; {review.cookie}"}, cookie=False)
        assert answer.status == 200, other


def test_a_malformed_edit_is_a_plain_422(review: Review) -> None:
    """A NaN in an edit made FastAPI's error answer itself fail: a 500 and tracebacks on the terminal."""
    review.sign_in()
    for body in (b'{"op": "add", "box": [NaN, 0, 50, 50]}', b'{"op": "add", "box": [0, 0, Infinity, 50]}'):
        answer = review.post(f"/api/edit/{key_of(review)}", body)
        assert answer.status == 422 and json.loads(answer.body) == {"error": "malformed request"}, answer.body


def test_a_foreign_host_gets_400_even_with_the_cookie(review: Review) -> None:
    review.sign_in()
    for host in [
        "evil.example",
        f"evil.example:{review.port}",
        "127.0.0.1",
        "127.0.0.1:1",
        f"[::1]:{review.port}",
    ]:
        answer = review.request("/api/state", host=host)
        assert answer.status == 400, host
        secured(answer)
    assert review.request("/?t=" + review.token, host="evil.example", cookie=False).status == 400
    assert review.request("/api/state", host=f"localhost:{review.port}").status == 200


def test_a_change_needs_the_page_header(review: Review) -> None:
    review.sign_in()
    bare = review.request("/api/undo", method="POST", body=b"{}")
    assert bare.status == 403
    secured(bare)
    wrong = review.request("/api/undo", method="POST", headers={"X-Unseen-Page": "guess"}, body=b"{}")
    assert wrong.status == 403
    foreign = review.request(
        "/api/undo",
        method="POST",
        headers={"X-Unseen-Page": review.page, "Origin": "http://evil.example"},
        body=b"{}",
    )
    assert foreign.status == 403, "a request from another origin is refused even with the header"
    assert review.post("/api/undo").status == 200


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_path_can_be_traversed(review: Review, path: str) -> None:
    review.sign_in()
    answer = review.request(path.replace("KEY", key_of(review)))
    assert answer.status == 404, (path, answer.status, answer.body[:200])
    assert b"import" not in answer.body and b"root:" not in answer.body
    secured(answer)


def test_fastapi_s_documentation_pages_are_off(review: Review) -> None:
    review.sign_in()
    for path in ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]:
        assert review.request(path).status == 404, path


def test_it_listens_on_127_0_0_1_only(review: Review) -> None:
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        rows = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == review.port:  # 0A: LISTEN
                listening.append((table, address))
    assert listening == [("/proc/net/tcp", "0100007F")], listening  # 127.0.0.1, and no IPv6 socket
    for address in _other_addresses():
        with pytest.raises(OSError), socket.create_connection((address, review.port), timeout=2):
            pass


def _other_addresses() -> list[str]:
    """This machine's addresses that are not loopback (the route out, if there is one)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            address = str(probe.getsockname()[0])
    except OSError:
        return []
    return [] if address.startswith("127.") else [address]


def test_previews_are_private_and_gone_after_done(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = save(astronaut, tmp_path / "astronaut.png")
    review = start(photo, "-o", tmp_path / "out", tmp=tmp_path / "tmp")
    try:
        (folder,) = review.previews()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, "previews hold original pixels: owner only"
        assert list(folder.rglob("*.jpg")), "the previews are there while the review runs"
        review.sign_in()
        code = review.finish("done")
    finally:
        review.kill()
    assert code == 1, "nothing was applied, so the run did not write its file"
    assert review.previews() == [] and not (tmp_path / "out").exists()
    assert "GET /" not in "".join(review.stderr) and "POST /" not in "".join(review.stderr), "no access log"


@pytest.mark.parametrize(("how", "code"), [("sigint", 130), ("sigterm", 130)])
def test_previews_are_gone_after_ctrl_c(tmp_path: Path, astronaut: np.ndarray, how: str, code: int) -> None:
    photo = save(astronaut, tmp_path / "astronaut.png")
    review = start(photo, "-o", tmp_path / "out", tmp=tmp_path / "tmp")
    try:
        assert len(review.previews()) == 1
        review.sign_in()
        assert review.request("/api/state").status == 200
        got = review.finish(how)
    finally:
        review.kill()
    assert got == code, "".join(review.stderr)
    assert review.previews() == [], "the preview folder is removed after a signal too"
    assert "Traceback" not in "".join(review.stderr)


def test_a_killed_review_s_previews_go_at_the_next_start_and_a_live_one_s_stay(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """SIGKILL (the out-of-memory killer, a crash) leaves no chance to clean up: its original pixels
    stayed in the temporary folder for good."""
    photo = save(astronaut, tmp_path / "astronaut.png")
    live = start(photo, "-o", tmp_path / "live", tmp=tmp_path / "tmp")
    try:
        (kept,) = live.previews()
        killed = start(photo, "-o", tmp_path / "killed", tmp=tmp_path / "tmp")
        killed.kill()
        (dead,) = set(killed.previews()) - {kept}
        assert list(dead.rglob("*.jpg")), "left behind by the killed review"
        after = start(photo, "-o", tmp_path / "after", tmp=tmp_path / "tmp")
        try:
            assert kept in after.previews() and dead not in after.previews()
            assert len(after.previews()) == 2 and list(kept.rglob("*.jpg")), "the live review's stay"
            live.sign_in()
            assert live.request(f"/frame/{key_of(live)}/0.jpg").status == 200
        finally:
            after.kill()
    finally:
        live.kill()


def applied(review: Review) -> dict[str, object]:
    """Press Apply and wait until every file is written; the review's state then."""
    review.sign_in()
    assert review.post("/api/apply").status == 200
    for _ in range(600):
        state: dict[str, object] = json.loads(review.request("/api/state").body)
        if state["applied"] and not state["applying"]:
            return state
        time.sleep(0.2)
    raise AssertionError("Apply did not end")


def test_a_second_review_into_the_same_folder_saves_its_plan_over_the_first(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Saved beside the first under a new random name, OUT.plans held two plans for one input, and
    ``--plan OUT.plans`` rendered whichever sorted last."""
    photo = save(astronaut, tmp_path / "astronaut.png")
    first = start(photo, "-o", tmp_path / "out", tmp=tmp_path / "tmp")
    try:
        applied(first)
        assert first.finish("done") == 0, "".join(first.stderr)
    finally:
        first.kill()
    (saved,) = (tmp_path / "out.plans").glob("*.json")
    second = start(photo, "-o", tmp_path / "out", tmp=tmp_path / "tmp")
    try:
        second.sign_in()
        edit = json.dumps({"op": "add", "box": [400, 400, 460, 470]}).encode()
        assert second.post(f"/api/edit/{key_of(second)}", edit).status == 200
        applied(second)
        assert second.finish("done") == 0, "".join(second.stderr)
    finally:
        second.kill()
    assert list((tmp_path / "out.plans").glob("*.json")) == [saved], "one plan per input, saved over"
    assert any(r["kind"] == "manual" for r in json.loads(saved.read_text())["regions"]), "the second's"


def numbered_clip(path: Path, frames: int = 24) -> list[np.ndarray]:
    """A clip whose frame i shows a white bar at x = 8 i, coded with B-frames (decode order != display)."""
    shown = []
    for i in range(frames):
        img = np.full((96, 320, 3), 40, np.uint8)
        img[:, 8 * i + 4 : 8 * i + 12] = 230
        shown.append(img)
    write_clip(path, shown, 12, crf="12", bf="2", g="8")
    return shown


def test_frame_n_is_rendered_by_index(tmp_path: Path) -> None:
    shown = numbered_clip(tmp_path / "bars.mp4")
    review = start(tmp_path / "bars.mp4", "-o", tmp_path / "out", tmp=tmp_path / "tmp")
    try:
        review.sign_in()
        key = key_of(review)
        detail = json.loads(review.request(f"/api/file/{key}").body)
        assert detail["frames"] == len(shown)
        for n in (0, 1, 7, 8, 13, 23):
            answer = review.request(f"/frame/{key}/{n}.jpg")
            assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
            got = np.asarray(Image.open(io.BytesIO(answer.body)).convert("RGB")).astype(int)
            distances = [np.abs(got - frame).mean() for frame in shown]
            assert int(np.argmin(distances)) == n, f"frame {n} came back as {int(np.argmin(distances))}"
        assert review.request(f"/frame/{key}/{len(shown)}.jpg").status == 404
    finally:
        review.kill()

"""The tagging service, as a client meets it: the real uvicorn server on a free local port,
called over HTTP with httpx, one request and many at once."""

import asyncio
import dataclasses
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bioner_mtl.data.corpora import load_corpus
from bioner_mtl.experiments import serve as serve_cli
from bioner_mtl.training.cli import run
from bioner_mtl.training.product.bundle import load
from bioner_mtl.training.product.service import (
    Batcher,
    Busy,
    Limits,
    allowed_hosts,
    listen,
    load_test,
    make_server,
)

MAIN, AUX = "NCBI-disease", "BC5CDR-chem"
LIMITS = Limits(max_chars=3000, max_texts=4, batch_window_ms=40)


def texts(count: int) -> list[str]:
    """Real test sentences of both heads' corpora, four to a text, joined with the whitespace
    users paste."""
    disease, chemical = ([" ".join(s.tokens) for s in load_corpus(name).test[:2 * count]]
                         for name in (MAIN, AUX))
    return [f"Über α-synuclein: {disease[2 * i]}  {chemical[2 * i]}\n{disease[2 * i + 1]}\t"
            f"{chemical[2 * i + 1]}\u00a0" for i in range(count)]


TEXTS = texts(16)


@pytest.fixture(scope="session")
def server(two_head_bundle):
    """A two-head bundle (MAIN, AUX; tests/conftest.py), served by uvicorn in a thread; yields
    (url, expected rows per text)."""
    tagger = load(two_head_bundle[1])
    expected = {heads: [[{"document": 0, **dataclasses.asdict(e)}
                         for e in tagger.tag(text, heads and list(heads))] for text in TEXTS]
                for heads in (None, (MAIN,))}
    assert sum(map(len, expected[None])) > 10  # the checks below have substance
    sock = listen("127.0.0.1", 0)
    uvicorn = make_server(tagger, LIMITS, "model", access_log=False,
                          hosts=allowed_hosts(sock.getsockname()[0]))
    thread = threading.Thread(target=uvicorn.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if uvicorn.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", expected
    uvicorn.should_exit = True
    thread.join(10)


def same(rows: list[dict], expected: list[dict]) -> None:
    """The service's entities are the Tagger's on that text (confidences to rounding: a batch
    pads its sentences differently) and each slices the text."""
    assert [{**r, "confidence": None} for r in rows] == [
        {**e, "confidence": None} for e in expected]
    assert all(abs(r["confidence"] - e["confidence"]) <= 2e-4 for r, e in zip(rows, expected))


def sliced(text: str, rows: list[dict]) -> bool:
    return all(0 <= r["start"] < r["end"] <= len(text) and text[r["start"]:r["end"]] == r["text"]
               for r in rows)


def test_one_text_and_several(server):
    url, expected = server
    answer = httpx.post(f"{url}/tag", json={"text": TEXTS[0]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["documents"] == 1 and body["heads"] == [MAIN, AUX]
    same(body["entities"], expected[None][0])
    assert sliced(TEXTS[0], body["entities"])

    answer = httpx.post(f"{url}/tag", json={"texts": TEXTS[1:4], "heads": [MAIN, MAIN]}).json()
    assert answer["documents"] == 3 and answer["heads"] == [MAIN]
    for i, text in enumerate(TEXTS[1:4]):
        mine = [r for r in answer["entities"] if r["document"] == i]
        same(mine, [{**e, "document": i} for e in expected[(MAIN,)][i + 1]])
        assert sliced(text, mine)


def test_min_confidence_drops_the_less_certain(server):
    url, expected = server
    i = max(range(len(TEXTS)), key=lambda i: len(expected[None][i]))
    rows = expected[None][i]
    shown = sorted({r["confidence"] for r in rows})  # rounded to 4 places: a cut halfway
    cut = (shown[len(shown) // 2 - 1] + shown[len(shown) // 2]) / 2  # between two is exact
    got = httpx.post(f"{url}/tag", json={"text": TEXTS[i], "min_confidence": cut}).json()
    kept = [r for r in rows if r["confidence"] >= cut]
    assert 0 < len(kept) < len(rows)
    same(got["entities"], kept)


def test_concurrent_requests_share_passes_and_each_gets_its_own_entities(server):
    url, expected = server
    before = httpx.get(f"{url}/health").json()["batching"]
    barrier, answers = threading.Barrier(len(TEXTS)), [None] * len(TEXTS)

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            barrier.wait()
            answers[i] = http.post("/tag", json={"text": TEXTS[i]})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(TEXTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, answer in enumerate(answers):
        assert answer.status_code == 200
        same(answer.json()["entities"], expected[None][i])
        assert sliced(TEXTS[i], answer.json()["entities"])
    after = httpx.get(f"{url}/health").json()["batching"]
    assert after["requests"] - before["requests"] == len(TEXTS)
    assert after["passes"] - before["passes"] < len(TEXTS) // 2  # requests shared passes


def test_load_test_measures_and_checks_every_answer(server):
    url, expected = server
    seen = []

    def check(text, body):
        seen.append(text)
        same(body["entities"], expected[None][TEXTS.index(text)])

    result = load_test(url, TEXTS[:6], clients=4, requests=12, check=check)
    assert len(seen) == result.requests == len(result.latencies) == 12
    assert 1 <= result.passes <= 12 and result.per_second > 0
    assert result.percentile(50) <= result.percentile(90) <= result.percentile(99)
    assert result.percentile(100) == 1000 * max(result.latencies)


BAD = [  # body, status, what the error says
    (b"", 400, "empty request body"),
    (b"{'text': 1}", 400, "not JSON (Expecting property name enclosed in double quotes at "
                          "line 1 column 2)"),
    (b"\xff\xfe{}", 400, "not UTF-8 (invalid start byte at byte 0)"),
    (b"[" * 50_000, 400, "nested too deeply"),
    (b'["text"]', 400, "a JSON list, not an object"),
    (b'{"txt": "a"}', 400, 'unknown field "txt"; a /tag request holds text, texts, heads'),
    (b'{"text": "a", "texts": ["b"]}', 400, 'either "text" or "texts", not both'),
    (b'{"heads": ["x"]}', 400, 'either "text" or "texts", not neither'),
    (b'{"text": 5}', 400, '"text" should be a string, found 5'),
    (b'{"texts": "a"}', 400, '"texts" should be a non-empty list of strings, found "a"'),
    (b'{"texts": []}', 400, '"texts" should be a non-empty list'),
    (b'{"texts": ["a", null]}', 400, "texts[1] should be a string, found null"),
    (b'{"text": "a\\ud800"}', 400, "text holds a lone surrogate (\\ud800) at character 1"),
    (b'{"text": "a", "heads": ["BC2GM"]}', 400,
     f"unknown head(s) BC2GM; this bundle has {MAIN}, {AUX}"),
    (b'{"text": "a", "heads": []}', 400, '"heads" should be a non-empty list of head names'),
    (b'{"text": "a", "heads": [1]}', 400, '"heads" should be a non-empty list of head names'),
    (b'{"text": "a", "min_confidence": 2}', 400, '"min_confidence" should be a number from 0 '
                                                 'to 1, found 2'),
    (b'{"text": "a", "min_confidence": NaN}', 400, "found NaN"),
    (json.dumps({"text": "a" * 3001}).encode(), 413,
     "text has 3001 characters; the limit is 3000 per text (--max-chars)"),
    (json.dumps({"texts": ["ok", "b" * 3001]}).encode(), 413, "texts[1] has 3001 characters"),
    (json.dumps({"texts": ["a"] * 5}).encode(), 413,
     '"texts" holds 5 texts; the limit is 4 per request (--max-texts)'),
    (b" " * (LIMITS.max_body_bytes + 1), 413,
     f"request body of {LIMITS.max_body_bytes + 1} bytes; the limit is {LIMITS.max_body_bytes}"),
    # past Python's 4,300-digit limit on int(): once a 500 from json.loads (issue 26)
    (b'{"text": "a", "min_confidence": ' + b"9" * 5000 + b"}", 400,
     "request body holds a number of 5000 digits"),
    (b'{"text": -' + b"1" * 4301 + b"}", 400, "a number of 4301 digits"),
    (b'{"texts": ["a"], "heads": [' + b"7" * 9999 + b"]}", 400, "a number of 9999 digits"),
    (b'{"text": "a", "min_confidence": 0.' + b"0" * 5000 + b"1}", 200, ""),  # a float: fine
]


def one_line_error(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert "\n" not in answer.text and "Traceback" not in answer.text
    body = answer.json()
    assert list(body) == ["error"]
    return body["error"]


@pytest.mark.parametrize(("body", "status", "message"), BAD, ids=range(len(BAD)))
def test_bad_requests_get_a_one_line_json_error(server, body, status, message):
    url, _ = server
    answer = httpx.post(f"{url}/tag", content=body)
    if status == 200:
        assert answer.status_code == 200 and "entities" in answer.json()
        return
    assert message in one_line_error(answer, status)


@pytest.mark.parametrize("length", ["9" * 5000, "\u00b2", "0x10", "-1", "1 2"])
def test_a_malformed_content_length_never_gets_a_500(server, length):
    """Content-Length sent raw over a socket (httpx would refuse it): the parser or the
    service refuses it with a 4xx, never a traceback (int() of 5,000 digits raises, and
    `"\u00b2".isdigit()` is true)."""
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /tag HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Length: "
                     + length.encode("latin-1") + b"\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\n\r\n{}")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"Traceback" not in answer


def test_a_body_over_the_limit_without_a_declared_length_is_cut_off(server):
    url, _ = server

    def chunks():  # chunked transfer: the server counts what arrives
        for _ in range(LIMITS.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    error = one_line_error(httpx.post(f"{url}/tag", content=chunks()), 413)
    assert f"request body over {LIMITS.max_body_bytes} bytes" in error


def test_an_offset_that_would_not_slice_the_text_is_never_sent(server, monkeypatch):
    """Offsets come from training.bundle.with_offsets; were they ever off by one, the server
    answers 500 (one line) instead of sending them."""
    from bioner_mtl.training.product import bundle

    url, expected = server
    real = bundle.with_offsets

    def shifted(entities, tokens, text):
        return [dataclasses.replace(e, start=e.start + 1) for e in real(entities, tokens, text)]

    monkeypatch.setattr(bundle, "with_offsets", shifted)
    i = max(range(len(TEXTS)), key=lambda i: len(expected[None][i]))
    assert "internal error (RuntimeError)" in one_line_error(
        httpx.post(f"{url}/tag", json={"text": TEXTS[i]}), 500)
    monkeypatch.undo()
    assert httpx.post(f"{url}/tag", json={"text": TEXTS[i]}).status_code == 200


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:{port}", "localhost.:{port}",
                                  "127.0.0.1", "127.0.0.1:{port}", "[::1]:{port}", "[::1]",
                                  "127.0.0.2:80"])
def test_a_loopback_service_answers_loopback_host_names(server, host):
    url, _ = server
    port = url.rsplit(":", 1)[1]
    answer = httpx.get(f"{url}/health", headers={"Host": host.format(port=port)})
    assert answer.status_code == 200 and answer.json()["ok"] is True


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io",
                                  "localhost.evil.example:{port}", "10.0.0.1:{port}",
                                  "[::2]:{port}", "", "local host"])
@pytest.mark.parametrize("route", ["/", "/health", "/tag"])
def test_other_host_names_are_refused_against_dns_rebinding(server, host, route):
    """A page on evil.example whose name is rebound to 127.0.0.1 reaches the service with
    `Host: evil.example`: refused (421, one JSON line) before any route runs."""
    url, _ = server
    port = url.rsplit(":", 1)[1]
    headers = {"Host": host.format(port=port)}
    answer = (httpx.post(f"{url}{route}", json={"text": "BRCA1"}, headers=headers)
              if route == "/tag" else httpx.get(f"{url}{route}", headers=headers))
    error = one_line_error(answer, 421)
    assert "listens on loopback" in error and "--allow-host" in error


def test_allowed_host_names():
    assert allowed_hosts("0.0.0.0") is None and allowed_hosts("::") is None
    assert allowed_hosts("192.168.1.5") is None  # bound to one interface: any name
    assert allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert allowed_hosts("::1", ["Tagger.Lab.", "proxy"]) == {
        "localhost", "127.0.0.1", "::1", "tagger.lab", "proxy"}


def test_unknown_routes_and_methods_get_a_one_line_json_error(server):
    url, _ = server
    assert "Not Found: GET /tags; this service answers" in one_line_error(
        httpx.get(f"{url}/tags"), 404)
    assert "Method Not Allowed: GET /tag" in one_line_error(httpx.get(f"{url}/tag"), 405)


def test_health(server):
    url, _ = server
    health = httpx.get(f"{url}/health").json()
    assert health["ok"] is True and health["model"] == "window-cnn"
    assert health["bundle"] == "model" and health["main"] == MAIN
    assert health["heads"] == [MAIN, AUX] and health["default_heads"] == [MAIN, AUX]
    assert health["precision"] is None  # a window CNN has no encoder to compute in bfloat16
    assert health["limits"] == {"max_chars": 3000, "max_texts": 4,
                                "max_body_bytes": LIMITS.max_body_bytes}


def fetch_page(url: str) -> str:
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<textarea" in page.text and '<meta name="viewport"' in page.text
    # no external assets: nothing fetched from another host, no build step
    assert not re.search(r"<[^>]*\s(src|href)\s*=|https?://|@import|//[a-z]", page.text, re.I)
    assert "url(" not in page.text  # CSS's (JavaScript's URL( makes a link to this page)
    # user and model text never parsed as HTML
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                         page.text)
    return page.text


def test_the_page_highlights_what_the_service_found(server, tmp_path):
    """The page's script parses, and its segmenting code, run by node, agrees with code-point
    slicing in Python: an astral character before the entities (UTF-16 counts it twice),
    overlapping heads."""
    url, _ = server
    page = fetch_page(url)
    if shutil.which("node") is None:
        pytest.skip("no node on this machine to run the page's script")
    whole = tmp_path / "page.js"
    whole.write_text(page.split("<script>")[1].split("</script>")[0], encoding="utf-8")
    subprocess.run(["node", "--check", str(whole)], check=True, timeout=20)
    code = page.split("// segments:begin")[1].split("// segments:end")[0]
    text = "𝛼 IL-2 and TNF in 😀 Crohn disease"
    entities = [{"head": "A", "type": "Gene", "start": 2, "end": 6, "confidence": 0.9},
                {"head": "A", "type": "Gene", "start": 11, "end": 14, "confidence": 0.8},
                {"head": "B", "type": "Disease", "start": 20, "end": 33, "confidence": 0.7},
                {"head": "A", "type": "Disease", "start": 20, "end": 25, "confidence": 0.6}]
    script = code + f"console.log(JSON.stringify(segments({json.dumps(text)}, " \
                    f"{json.dumps(entities)})));"
    pieces = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True,
                                       check=True, timeout=20).stdout)
    cuts = sorted({0, len(text), *(e[k] for e in entities for k in ("start", "end"))})
    assert pieces == [{"text": text[a:b],
                       "entities": [e for e in entities if e["start"] <= a and b <= e["end"]]}
                      for a, b in zip(cuts, cuts[1:])]
    assert [p["text"] for p in pieces if p["entities"]] == ["IL-2", "TNF", "Crohn", " disease"]


def test_the_page_downloads_what_predict_writes(server, tmp_path):
    """The page's JSON lines, BRAT and PubTator writers, run by node on awkward entities
    (astral characters, tabs and Unicode spaces inside an entity, a line break, an integral
    confidence, a head name BRAT cannot hold), give exactly what predict.py's code writes."""
    url, _ = server
    page = fetch_page(url)
    if shutil.which("node") is None:
        pytest.skip("no node on this machine to run the page's script")
    code = page.split("// formats:begin")[1].split("// formats:end")[0]
    text = "𝛼 IL-2\tR and\u2003TNF\r\nin 😀 \"Crohn\\s\" disease\x1f."
    rows = [{"document": 0, "head": "A", "type": "Gene", "start": 2, "end": 8,
             "text": "IL-2\tR", "confidence": 0.9},
            {"document": 0, "head": "A b/c", "type": "Gène", "start": 13, "end": 16,
             "text": "TNF", "confidence": 1.0},
            {"document": 0, "head": "B", "type": "Disease", "start": 23, "end": 41,
             "text": "\"Crohn\\s\" disease\x1f", "confidence": 0.1235}]
    assert all(text[r["start"]:r["end"]] == r["text"] for r in rows)
    script = code + f"const rows = {json.dumps(rows)};" + (
        "console.log(JSON.stringify([jsonLines(rows), brat(rows), pubtator('page', "
        f"{json.dumps(text)}, rows)]));")
    got = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True,
                                    check=True, timeout=20).stdout)
    assert got == list(predict_outputs(text, rows))


def predict_outputs(text: str, rows: list[dict]) -> tuple[str, str, str]:
    """What experiments/predict.py writes for these entities of this text: --format jsonl
    (its rows), brat (the .ann) and pubtator (document id `page`)."""
    from bioner_mtl.data.documents import Document, Passage, pubtator_text
    from bioner_mtl.training.product.bulk import brat_type, predicted_mention

    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    ann = "".join(f"T{i}\t{brat_type(r['head'], r['type'])} {r['start']} {r['end']}\t"
                  + re.sub(r"\s", " ", r["text"]) + "\n" for i, r in enumerate(rows, 1))
    pubtator = pubtator_text([Document("page", (Passage(0, text),),
                                       tuple(predicted_mention(r) for r in rows))])
    return jsonl, ann, pubtator


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_BROWSER = ("no Chromium on this machine ({}: none found; `apt-get install chromium`, as "
              ".ci/run does, installs Debian's)").format(", ".join(BROWSERS))


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands on its descriptor 3, answers on 4), so no client
    library and no debugging port. A context manager: it closes the browser (its process
    group) on the way out."""

    def __init__(self, browser: str, folder):
        import fcntl
        import os

        def high(fd: int) -> int:  # well above 4, so moving the pipes onto 3 and 4 is safe
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved

        commands_in, self.commands = map(high, os.pipe())
        self.answers, answers_out = map(high, os.pipe())
        self.log = folder / "chromium.log"
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={folder / 'profile'}", "--remote-debugging-pipe",
                "about:blank"]
        with open(self.log, "wb") as log:
            self.pid = os.posix_spawn(shutil.which(browser), args, os.environ, setpgroup=0,
                                      file_actions=[
                                          (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                          (os.POSIX_SPAWN_DUP2, log.fileno(), 1),
                                          (os.POSIX_SPAWN_DUP2, log.fileno(), 2),
                                          (os.POSIX_SPAWN_DUP2, commands_in, 3),
                                          (os.POSIX_SPAWN_DUP2, answers_out, 4)])
        os.close(commands_in)
        os.close(answers_out)
        self.buffer, self.last = b"", 0

    def __enter__(self):
        return self

    def __exit__(self, *_):
        import os
        import signal

        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        for _ in range(50):
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.commands)
        os.close(self.answers)

    def call(self, method: str, session: str | None = None, timeout: float = 30, **params):
        """Send one command and wait for its answer (events on the way are dropped)."""
        import os
        import select

        self.last += 1
        message = {"id": self.last, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                    raise TimeoutError(f"{method}: no answer from Chromium in {timeout} s")
                chunk = os.read(self.answers, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed its pipe:\n{self.log.read_text()}")
                self.buffer += chunk
            raw, _, self.buffer = self.buffer.partition(b"\0")
            answer = json.loads(raw)
            if answer.get("id") == self.last:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, url: str, width: int, height: int, mobile: bool = False) -> "Tab":
        """A new tab at `url`, its window `width` x `height` CSS pixels (a phone's when
        `mobile`: the page's viewport meta then decides its layout width)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        tab = Tab(self, self.call("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"])
        tab.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                 deviceScaleFactor=2 if mobile else 1, mobile=mobile)
        tab.call("Page.navigate", url=url)
        return tab


@dataclasses.dataclass
class Tab:
    browser: Chromium
    session: str

    def call(self, method: str, **params):
        return self.browser.call(method, self.session, **params)

    def js(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while not (value := self.js(expression)):
            assert time.monotonic() < deadline, f"still not {expression}: {self.seen()}"
            time.sleep(0.05)
        return value

    def seen(self) -> dict:
        """What a person sees: the state, the status line, the entity labels beside the
        text, the table, the legend, the text shown (each as rendered text, only if shown)."""
        return self.js(SEEN)

    def key(self, key: str, code: int, modifiers: int = 0) -> None:
        """A key pressed and released in the focused element (modifiers: 2 is Ctrl)."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code, modifiers=modifiers)

    def screenshot(self, path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))


SEEN = """(() => {
  const shown = e => { const box = e.getBoundingClientRect(), style = getComputedStyle(e);
    return box.width > 0 && box.height > 0 && style.visibility === "visible"
           && style.display !== "none" && Number(style.opacity) > 0.5 && !e.closest("[hidden]"); };
  const texts = selector => [...document.querySelectorAll(selector)].filter(shown)
                                .map(e => e.innerText);
  return {state: document.body.dataset.state, status: texts("#status").join(""),
          labels: texts("#output .label"), legend: texts("#legend li"),
          rows: [...document.querySelectorAll("#rows tr")].filter(shown)
                  .map(r => [...r.cells].map(c => c.innerText)),
          output: texts("#output").join(""), summary: texts("#summary").join(""),
          elements: [...new Set([...document.querySelectorAll("#output *")]
                                .map(e => e.tagName))].sort(),
          downloads: texts(".downloads button"), width: innerWidth,
          scrollWidth: document.documentElement.scrollWidth, search: location.search};
})()"""


def shown_confidence(value: float) -> str:
    """A confidence as the page shows it: JavaScript's toFixed(2), which rounds the double's
    exact value half up (Python's format rounds half to even)."""
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(value).quantize(Decimal("0.01"), ROUND_HALF_UP))


def downloaded(folder, name: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not ((folder / name).is_file() and not list(folder.glob("*.crdownload"))):
        assert time.monotonic() < deadline, f"{name} not downloaded: {list(folder.iterdir())}"
        time.sleep(0.05)
    return (folder / name).read_text(encoding="utf-8")


def test_the_page_in_a_headless_browser(server, tmp_path):
    """The page as a person uses it, in headless Chromium: a shared link (?text=) tags on
    load; each entity shows its type and confidence as text beside it; the table, the counts
    per type and the three downloads match the service's answer (the downloads byte for byte
    what predict.py writes); markup in the text stays text; new input and an error clear the
    result; an empty text gets a message; Tag shows a loading state; Ctrl+Enter tags; at
    phone width the page fits. Screenshots: page.png and page-phone.png in tmp_path."""
    url, _ = server
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.skip(NO_BROWSER)
    text = TEXTS[0] + " <b>not bold</b> & <img src=x onerror=alert(1)>"
    rows = httpx.post(f"{url}/tag", json={"text": text}).json()["entities"]
    assert len(rows) >= 2
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with Chromium(browser, tmp_path) as chromium:
        chromium.call("Browser.setDownloadBehavior", behavior="allow",
                      downloadPath=str(downloads))
        tab = chromium.open(f"{url}/?{httpx.QueryParams(text=text)}", 1100, 900)
        tab.wait("document.body?.dataset.state === 'done'")
        seen = tab.seen()
        # each entity's type and confidence, as text beside it
        assert sorted(seen["labels"]) == sorted(
            f"{r['type']} {shown_confidence(r['confidence'])}" for r in rows)
        assert seen["rows"] == [
            [" ".join(r["text"].split()), r["type"], str(r["start"]), str(r["end"]),
             shown_confidence(r["confidence"]), r["head"]]
            for r in sorted(rows, key=lambda r: (r["start"], r["end"]))]
        counts = {t: sum(r["type"] == t for r in rows) for t in {r["type"] for r in rows}}
        legend = {" ".join(item.split()) for item in seen["legend"]}  # flex items: lines
        assert {f"{t} {n}" for t, n in counts.items()} <= legend
        assert {f"{t} 0" for t in ("Disease", "Chemical") if t not in counts} <= legend
        assert f"{len(rows)} entities found by {MAIN}, {AUX}" in seen["summary"]
        # the user's markup is shown as text, never made into elements
        assert "<b>not bold</b> & <img src=x onerror=alert(1)>" in seen["output"]
        assert seen["elements"] == ["MARK", "SPAN"]
        assert seen["downloads"] == ["JSON lines", "BRAT .ann", "PubTator"]
        assert httpx.QueryParams(seen["search"].lstrip("?"))["text"] == text  # a shareable link
        tab.screenshot(tmp_path / "page.png")

        jsonl, ann, pubtator = predict_outputs(text, rows)
        for button, name, expected in (("dl-jsonl", "entities.jsonl", jsonl),
                                       ("dl-brat", "entities.ann", ann),
                                       ("dl-pubtator", "entities.pubtator", pubtator)):
            tab.js(f"document.getElementById('{button}').click()")
            assert downloaded(downloads, name) == expected

        # new input clears the result; Ctrl+Enter tags; Tag shows that it is working
        tab.js("(t => { t.value += ' BRCA1'; t.dispatchEvent(new Event('input')); "
               "t.focus(); })(document.getElementById('text'))")
        seen = tab.seen()
        assert seen["labels"] == seen["rows"] == [] and seen["output"] == ""
        assert "press Tag (or Ctrl+Enter)" in seen["status"]
        tab.key("Enter", 13, modifiers=2)
        tab.wait("document.body?.dataset.state === 'done'")
        assert tab.seen()["labels"]
        assert tab.js("(() => { document.getElementById('tag').click(); "
                      "return [document.body.dataset.state, "
                      "document.getElementById('tag').disabled, "
                      "document.getElementById('status').innerText]; })()") == [
            "loading", True, "Tagging…"]
        tab.wait("document.body?.dataset.state === 'done'")

        # an error (a text over --max-chars) and an empty text: a message, no result left
        for value, state, message in (("x " * 1501, "error", "has 3002 characters; the limit "
                                       "is 3000 per text"),
                                      (" \n ", "empty", "Nothing to tag")):
            assert tab.seen()["labels"]
            tab.js(f"document.getElementById('text').value = {json.dumps(value)}; "
                   "document.getElementById('tag').click()")
            tab.wait(f"document.body?.dataset.state === '{state}'")
            seen = tab.seen()
            assert message in seen["status"]
            assert seen["labels"] == seen["rows"] == seen["downloads"] == []
            tab.js(f"document.getElementById('text').value = {json.dumps(text)}; "
                   "document.getElementById('tag').click()")
            tab.wait("document.body?.dataset.state === 'done'")

        # a phone: the viewport meta gives a 390-pixel layout, and nothing is wider
        phone = chromium.open(f"{url}/?{httpx.QueryParams(text=text)}", 390, 844, mobile=True)
        phone.wait("document.body?.dataset.state === 'done'")
        seen = phone.seen()
        assert seen["width"] == 390 and seen["scrollWidth"] <= 390
        assert sorted(seen["labels"]) == sorted(
            f"{r['type']} {shown_confidence(r['confidence'])}" for r in rows)
        phone.screenshot(tmp_path / "page-phone.png")
    for name in ("page.png", "page-phone.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


class Recorder:
    """A stand-in Tagger: records each call's sentences and heads."""

    def __init__(self):
        self.calls = []

    def entities(self, sentences, heads, documents=None):
        self.calls.append((len(sentences), heads))
        return [[("H", "T", 0, 1, 1.0)] * len(s) for s in sentences]


def test_batcher_keeps_to_its_size_and_groups_heads():
    tagger = Recorder()

    async def main():
        batcher = Batcher(tagger, Limits(max_batch_sentences=5, batch_window_ms=20))
        worker = asyncio.create_task(batcher.run())
        jobs = [([["a"]] * 3, None), ([["b"]] * 2, None), ([["c", "d"]] * 2, ("X",)),
                ([["e"]] * 4, None), ([], None)]
        got = await asyncio.gather(*(batcher.tag(s, h) for s, h in jobs))
        worker.cancel()
        batcher.close()
        return jobs, got

    jobs, got = asyncio.run(main())
    # each request gets its own sentences back, in order
    assert [[len(r) for r in g] for g in got] == [[len(s) for s in j] for j, _ in jobs]
    # first batch: 3 + 2 (+ the 2 of heads X in their own pass); 4 more would pass 5
    assert tagger.calls == [(5, None), (2, ["X"]), (4, None)]


def serve(*args):
    return run(serve_cli.main, [str(a) for a in args])


def test_command_line_mistakes_are_one_line(tmp_path, capsys):
    assert serve("--model", tmp_path / "none", "--port", 0) == 2
    assert "not a model bundle" in capsys.readouterr().err
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    assert serve("--model", tmp_path, "--port", port) == 2  # refused before loading
    assert f"--host 127.0.0.1 --port {port}: cannot listen there" in capsys.readouterr().err
    taken.close()
    for flags, message in ((["--max-chars", 0], "--max-chars 0: must be at least 1"),
                           (["--port", 70000], "--port 70000: must be 0 to 65535"),
                           (["--batch-window-ms", -1], "--batch-window-ms -1.0: must be"),
                           (["--max-queued-sentences", 0],
                            "--max-queued-sentences 0: must be at least 1"),
                           (["--drain-seconds", "nan"], "--drain-seconds nan: must be between"),
                           (["--allow-host", "tagger.lab:8000"],
                            "--allow-host 'tagger.lab:8000': not a host name"),
                           (["--allow-host", "http://x"], "without a scheme, port or path"),
                           (["--precision", "float16"],
                            "argument --precision: invalid choice: 'float16'")):
        assert serve("--model", tmp_path, *flags) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.startswith("error: ") and "\n" not in err, err


def test_the_precision_reaches_the_served_tagger(tmp_path, monkeypatch, caplog):
    """serve.py loads the bundle in the --precision asked (auto by default) and serves it."""
    from bioner_mtl.training.product import bundle, service

    loaded, served = [], []

    class Tagger:
        meta = {"model": "window-cnn"}
        precision = None

    def load(model, precision):
        loaded.append(precision)
        return Tagger()

    class Server:
        def __init__(self, tagger, *args, **kwargs):
            served.append(tagger)

        def run(self, sockets):
            sockets[0].close()

    monkeypatch.setattr(bundle, "load", load)
    monkeypatch.setattr(service, "make_server", Server)
    assert serve("--model", tmp_path, "--port", 0) == 0
    caplog.clear()
    assert serve("--model", tmp_path, "--port", 0, "--precision", "bfloat16") == 0
    assert loaded == ["auto", "bfloat16"] and len(served) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["--precision bfloat16: a window-cnn bundle has no BERT encoder; it "
                        "tags in float32 as always"]


def test_a_failing_pass_fails_its_requests_and_the_batcher_goes_on():
    class Flaky(Recorder):
        def entities(self, sentences, heads, documents=None):
            if heads == ["bad"]:
                raise ValueError("model fault")
            return super().entities(sentences, heads)

    async def main():
        batcher = Batcher(Flaky(), Limits(batch_window_ms=0))
        worker = asyncio.create_task(batcher.run())
        with pytest.raises(ValueError, match="model fault"):
            await batcher.tag([["a"]], ("bad",))
        after = await batcher.tag([["a", "b"]], None)
        worker.cancel()
        batcher.close()
        return after

    assert asyncio.run(main()) == [[("H", "T", 0, 1, 1.0)] * 2]


SLOW_SERVE = """
import sys, time
from types import SimpleNamespace
from bioner_mtl.training.product import bundle

class Slow:  # a stand-in Tagger: every model pass takes 0.4 s
    meta, main, precision = {"model": "slow"}, "H", None
    heads = {"H": SimpleNamespace(tagset=SimpleNamespace(labels=("O", "B-T", "I-T")))}
    def heads_for(self, heads):
        return list(heads or ["H"])
    def entities(self, sentences, heads, documents=None):
        time.sleep(0.4)
        return [[("H", "T", 0, 1, 0.9)] for s in sentences]

bundle.load = lambda path, precision=None: Slow()
from bioner_mtl.experiments import serve
from bioner_mtl.training.cli import run
sys.exit(run(serve.main, sys.argv[1:]))
"""


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_with_requests_in_flight_drains_them_or_answers_503_in_json(tmp_path, presses):
    """SIGINT to serve.py while 16 one-pass requests queue (6.4 s of passes) and a client
    sends its body slowly: those done within --drain-seconds are answered, the rest get a
    one-line 503 (the slow one too, once uvicorn gives up on it); a second Ctrl-C answers
    them all at once. No plain-text 500, no traceback, and the command exits as an
    interrupted command does (130)."""
    import signal
    import sys

    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SERVE, "--model", str(tmp_path), "--port", "0",
         "--max-batch-sentences", "1", "--batch-window-ms", "0",
         "--drain-seconds", "1.5" if presses == 1 else "60",
         "--no-access-log"], stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not (match := re.search(r"on (http://\S+/)", lines[-1] if lines else "")):
            lines.append(process.stderr.readline())
            assert lines[-1] or process.poll() is None, "".join(lines)
        url = match[1]
        answers = [None] * 16

        def client(i: int) -> None:
            try:
                answers[i] = httpx.post(f"{url}tag", json={"text": f"BRCA1 {i}"}, timeout=30)
            except httpx.HTTPError as err:
                answers[i] = err

        def slow_client() -> None:  # 10 of the 100 bytes it announces, then nothing
            host, port = url.removeprefix("http://").rstrip("/").split(":")
            with socket.create_connection((host, int(port)), timeout=30) as sock:
                sock.sendall(f"POST /tag HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100"
                             "\r\n\r\n{\"text\": \"".encode())
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            answers.append(answer)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        threads.append(threading.Thread(target=slow_client))
        for t in threads:
            t.start()
        for _ in range(100):  # every request received: 16 jobs queued or in a pass
            if httpx.get(f"{url}health").json()["batching"]["passes"] >= 2:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        began = time.monotonic()
        if presses == 2:
            time.sleep(0.3)
            process.send_signal(signal.SIGINT)
        for t in threads:
            t.join(30)
        log = process.stderr.read()
        assert process.wait(30) == 130, log
        assert time.monotonic() - began < 10  # not the 60 s drain of the second case
    finally:
        process.kill()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log
    slow = answers.pop()
    assert slow.startswith(b"HTTP/1.1 503 ") and b"application/json" in slow, slow
    assert b'"the service is stopping (Ctrl-C or SIGTERM) before this request' in slow
    statuses = [getattr(a, "status_code", None) for a in answers]
    assert set(statuses) == {200, 503}, answers
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["entities"][0]["type"] == "T"
        else:
            assert "the service is stopping" in one_line_error(answer, 503)


# A fresh interpreter in which starlette (and so FastAPI) cannot be imported, as without the
# [serve] extra, then the console command with the arguments given.
WITHOUT_STARLETTE = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "starlette":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from bioner_mtl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def without_starlette(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_STARLETTE, *args], text=True,
                          capture_output=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


def test_serve_without_the_extra_says_how_to_install_it_in_one_line(tmp_path):
    """serve imported starlette at module load: without the [serve] extra even --help was a
    ModuleNotFoundError traceback. --help now works, and serving is one line with the
    extra's pip command (exit 2), before any bundle is read."""
    helped = without_starlette("serve", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--max-chars" in helped.stdout and "Traceback" not in helped.stderr
    done = without_starlette("serve", "--model", str(tmp_path / "no-bundle"))
    err = done.stderr.strip()
    assert done.returncode == 2 and "Traceback" not in err and "\n" not in err, err
    assert err.startswith("error: serving needs FastAPI and uvicorn, the [serve] extra "
                          "(starlette is not installed): pip install 'bioner-mtl[serve]'")


def test_the_threshold_reads_the_confidence_before_it_is_rounded():
    """0.49996 shows as 0.5 but is below a threshold of 0.5: dropped, as Tagger.tag and
    predict.py drop it (the service compared the rounded number)."""
    from bioner_mtl.data.text import split_sentences
    from bioner_mtl.training.product.service import TagRequest, entity_rows

    text = "Aspirin helps ."
    sentences = [split_sentences(text)]
    found = [[("H", "Gene", 0, 1, 0.49996), ("H", "Gene", 1, 2, 0.5)]]
    rows = entity_rows(TagRequest((text,), None, 0.5), sentences, found)
    assert [(r["text"], r["confidence"]) for r in rows] == [("helps", 0.5)]


def test_a_full_queue_turns_requests_away_at_once_and_takes_them_again_once_drained():
    """More sentences than --max-queued-sentences waiting: the next request is refused (503,
    Retry-After) before it queues; a request alone in the queue is taken whatever its size."""
    release = threading.Event()

    class Held(Recorder):
        def entities(self, sentences, heads, documents=None):
            release.wait(5)
            return super().entities(sentences, heads)

    async def main():
        batcher = Batcher(Held(), Limits(max_batch_sentences=2, batch_window_ms=0,
                                         max_queued_sentences=3))
        worker = asyncio.create_task(batcher.run())
        first = asyncio.create_task(batcher.tag([["a"]] * 2, None))  # in the pass, held
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(batcher.tag([["b"]] * 3, None))  # queued: 3 wait
        await asyncio.sleep(0.05)
        queued = batcher.queued
        with pytest.raises(Busy):
            await batcher.tag([["c"]], None)  # 3 + 1 > 3
        release.set()
        done = [len(await first), len(await waiting)]
        alone = len(await batcher.tag([["d"]] * 5, None))  # over the limit, but alone
        worker.cancel()
        batcher.close()
        return queued, done, alone, batcher.queued

    assert asyncio.run(main()) == (3, [2, 3], 5, 0)


def test_a_busy_service_answers_503_in_json_with_retry_after():
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    from bioner_mtl.training.product.service import create_app

    gate = threading.Event()

    class Held:  # a stand-in Tagger whose passes wait for the gate (the warm-up does not)
        meta, main, precision = {"model": "held"}, "H", None
        heads = {"H": SimpleNamespace(tagset=SimpleNamespace(labels=("O", "B-T", "I-T")))}

        def heads_for(self, heads):
            return list(heads or ["H"])

        def entities(self, sentences, heads, documents=None):
            if sentences != [["warm", "-", "up"]]:
                gate.wait(10)
            return [[] for _ in sentences]

    app = create_app(Held(), Limits(batch_window_ms=0, max_queued_sentences=1))
    with TestClient(app) as client:
        def post():
            return client.post("/tag", json={"text": "One sentence."})

        def until(key, value):
            deadline = time.monotonic() + 10
            while client.get("/health").json()["batching"][key] != value:
                assert time.monotonic() < deadline, f"{key} never reached {value}"
                time.sleep(0.01)

        threads = [threading.Thread(target=post) for _ in range(2)]
        threads[0].start()
        until("passes", 1)  # the first request is in a pass
        threads[1].start()
        until("queued_sentences", 1)  # the second waits for the model
        answer = post()
        gate.set()
        for thread in threads:
            thread.join()
        health = client.get("/health").json()
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json()["error"].startswith("busy: 1 sentences wait for the model")
    assert health["batching"]["max_queued_sentences"] == 1
    assert health["batching"]["queued_sentences"] == 0

"""A tagging service: a model bundle behind a small JSON API (FastAPI, served by uvicorn).

    POST /tag     {"text": "..."} or {"texts": ["...", ...]}, optionally "heads": [...] and
                  "min_confidence": P  ->  {"model", "documents", "heads", "entities": [...]}
    GET  /health  model, heads, limits, and how many model passes served how many requests
    GET  /        a page that tags a pasted text and highlights its entities

Each entity is a row of `experiments/predict.py --format jsonl`: document (the text's index
in the request, 0 for "text"), head, type, start, end, text, confidence; start and end count
characters (code points) of that text, and `text[start:end]` is the entity's text, which the
server checks before answering.

Concurrent requests share model passes: a Batcher collects the sentences of the requests that
arrive within a few milliseconds (and of all that queued while the model was busy), up to a
number of sentences, runs the Tagger once per choice of heads in a worker thread (the event
loop keeps accepting requests meanwhile) and hands each request its own sentences' entities.
Every user mistake (malformed JSON, wrong types, unknown heads, unknown fields, requests over
the limits) is a 4xx answer with a one-line `{"error": "..."}`, never a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.requests import Request  # module level: FastAPI reads handlers' annotations

from bioner_mtl.data.errors import InputError
from bioner_mtl.data.text import split_sentences

log = logging.getLogger(__name__)

FIELDS = ("text", "texts", "heads", "min_confidence")  # what a /tag request may hold
EXAMPLE = '{"text": "..."} or {"texts": ["...", "..."]}'
ROUTES = "GET /, GET /health, POST /tag"
# a JSON string spends at most 12 bytes on one character ("\ud83d\ude00" is one code point)
BYTES_PER_CHAR = 12
BODY_SLACK = 64 * 1024  # the rest of a request: keys, heads, brackets


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for; more is refused with 413 and the limit's name."""

    max_chars: int = 20_000  # characters per text (a long abstract is ~3,000)
    max_texts: int = 32  # texts per request
    max_batch_sentences: int = 512  # sentences per model pass (one request is never split)
    batch_window_ms: float = 5.0  # how long a pass waits for more requests to join it

    @property
    def max_body_bytes(self) -> int:
        """The body size no request within the other limits can exceed (JSON escapes
        included), so it refuses only what would be refused after parsing anyway."""
        return BYTES_PER_CHAR * self.max_chars * self.max_texts + BODY_SLACK

    def check(self) -> None:
        for name, flag in (("max_chars", "--max-chars"), ("max_texts", "--max-texts"),
                           ("max_batch_sentences", "--max-batch-sentences")):
            if getattr(self, name) < 1:
                raise InputError(f"{flag} {getattr(self, name)}: must be at least 1")
        if not 0 <= self.batch_window_ms <= 1000 or math.isnan(self.batch_window_ms):
            raise InputError(f"--batch-window-ms {self.batch_window_ms}: must be between 0 and "
                             "1000 (milliseconds a model pass waits for more requests)")


class RequestError(Exception):
    """A user mistake in a request: answered with `status` and {"error": message}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class TagRequest:
    texts: tuple[str, ...]
    heads: tuple[str, ...] | None  # None: every NER head
    min_confidence: float


def shown(value) -> str:
    """A JSON value for an error message, cut short."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_request(body: bytes, limits: Limits, heads_for) -> TagRequest:
    """A /tag body, checked: every problem is a RequestError naming the field and the fix.
    `heads_for` is Tagger.heads_for (raises InputError for an unknown head)."""
    if not body.strip():
        raise RequestError(400, f"empty request body; send JSON such as {EXAMPLE}")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, f"request body is not UTF-8 ({err.reason} at byte "
                                f"{err.start}); send JSON in UTF-8") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, f"request body is not JSON ({err.msg} at line {err.lineno} "
                                f"column {err.colno}); send {EXAMPLE}") from None
    except RecursionError:
        raise RequestError(400, "request body is nested too deeply to be a /tag request; "
                                f"send {EXAMPLE}") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"request body is a JSON {type(data).__name__}, not an object; "
                                f"send {EXAMPLE}")
    unknown = [k for k in data if k not in FIELDS]
    if unknown:
        raise RequestError(400, f"unknown field {shown(unknown[0])}; a /tag request holds "
                                f"{', '.join(FIELDS)}")
    if ("text" in data) == ("texts" in data):
        raise RequestError(400, f"give either \"text\" or \"texts\", not "
                                f"{'both' if 'text' in data else 'neither'}: {EXAMPLE}")
    if "text" in data:
        if not isinstance(data["text"], str):
            raise RequestError(400, f"\"text\" should be a string, found {shown(data['text'])}")
        texts, names = [data["text"]], ["text"]
    else:
        texts = data["texts"]
        if not isinstance(texts, list) or not texts:
            raise RequestError(400, "\"texts\" should be a non-empty list of strings, found "
                                    f"{shown(texts)}")
        names = [f"texts[{i}]" for i in range(len(texts))]
        wrong = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if wrong is not None:
            raise RequestError(400, f"texts[{wrong}] should be a string, found "
                                    f"{shown(texts[wrong])}")
        if len(texts) > limits.max_texts:
            raise RequestError(413, f"\"texts\" holds {len(texts)} texts; the limit is "
                                    f"{limits.max_texts} per request (--max-texts): send them "
                                    "in several requests")
    for name, text in zip(names, texts):
        if len(text) > limits.max_chars:
            raise RequestError(413, f"{name} has {len(text)} characters; the limit is "
                                    f"{limits.max_chars} per text (--max-chars): split it "
                                    "into several texts")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise RequestError(400, f"{name} holds a lone surrogate (\\u{ord(text[err.start]):04x}"
                                    f") at character {err.start}; send valid Unicode") from None
    heads = data.get("heads")
    if heads is not None:
        if (not isinstance(heads, list) or not heads
                or not all(isinstance(h, str) and h for h in heads)):
            raise RequestError(400, "\"heads\" should be a non-empty list of head names, "
                                    f"found {shown(heads)}; leave it out for every NER head")
        try:
            heads = tuple(dict.fromkeys(heads_for(heads)))  # checked, duplicates dropped
        except InputError as err:
            raise RequestError(400, str(err)) from None
    threshold = data.get("min_confidence", 0.0)
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
            or not 0 <= threshold <= 1):
        raise RequestError(400, "\"min_confidence\" should be a number from 0 to 1, found "
                                f"{shown(threshold)}")
    return TagRequest(tuple(texts), heads, float(threshold))


@dataclass
class Job:
    sentences: list[list[str]]
    heads: tuple[str, ...] | None
    future: asyncio.Future


class Batcher:
    """Concurrent requests' sentences tagged together: one Tagger call per batch (per choice
    of heads), in one worker thread, results split back to each request."""

    def __init__(self, tagger, limits: Limits):
        self.tagger, self.limits = tagger, limits
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="tagger")
        self.passes = 0  # Tagger calls so far
        self.requests = 0  # requests (with at least one sentence) they served
        self._carry: Job | None = None  # taken from the queue but over the batch's size

    async def tag(self, sentences: list[list[str]], heads: tuple[str, ...] | None
                  ) -> list[list[tuple]]:
        """Entities of each sentence, as Tagger.entities gives them."""
        if not sentences:
            return []
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Job(sentences, heads, future))
        return await future

    async def run(self) -> None:
        """The worker loop: collect a batch, tag it, repeat (until cancelled)."""
        while True:
            jobs = [self._carry or await self.queue.get()]
            self._carry = None
            if self.limits.batch_window_ms > 0:
                await asyncio.sleep(self.limits.batch_window_ms / 1000)
            size = len(jobs[0].sentences)
            while size < self.limits.max_batch_sentences and not self.queue.empty():
                job = self.queue.get_nowait()
                if size + len(job.sentences) > self.limits.max_batch_sentences:
                    self._carry = job
                    break
                jobs.append(job)
                size += len(job.sentences)
            try:
                await self._tag(jobs)
            except Exception as err:  # never leave a request waiting on a dead worker
                log.exception("tagging a batch of %d requests failed", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)

    async def _tag(self, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        groups: dict[tuple[str, ...] | None, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.heads, []).append(job)
        for heads, group in groups.items():
            sentences = [s for job in group for s in job.sentences]
            self.passes += 1
            self.requests += len(group)
            try:
                found = await loop.run_in_executor(self.executor, self.tagger.entities,
                                                   sentences, list(heads) if heads else None)
            except Exception as err:  # a server fault: each request answers 500
                for job in group:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            start = 0
            for job in group:
                if not job.future.done():  # a client that went away cancelled its future
                    job.future.set_result(found[start:start + len(job.sentences)])
                start += len(job.sentences)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def entity_rows(request: TagRequest, sentences: list[list[list]], found: list[list[tuple]]
                ) -> list[dict]:
    """predict.py's JSON lines rows, each checked to slice its text exactly."""
    from bioner_mtl.training.product.bundle import with_offsets

    rows, index = [], 0
    for document, (text, tokens) in enumerate(zip(request.texts, sentences)):
        for sentence in tokens:
            for entity in with_offsets(found[index], sentence, text):
                if not (0 <= entity.start < entity.end <= len(text)
                        and text[entity.start:entity.end] == entity.text):
                    raise RuntimeError(f"entity {entity} does not slice document {document} "
                                       f"(length {len(text)})")
                if entity.confidence >= request.min_confidence:
                    rows.append({"document": document, **dataclasses.asdict(entity)})
            index += 1
    return rows


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared)} bytes; the limit is {limit} "
                                "(--max-chars x --max-texts): send fewer or shorter texts")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body over {limit} bytes (--max-chars x "
                                    "--max-texts): send fewer or shorter texts")
        parts.append(chunk)
    return b"".join(parts)


def create_app(tagger, limits: Limits = Limits(), name: str | None = None):
    """The FastAPI application serving `tagger` (a training.bundle.Tagger)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    limits.check()
    model = tagger.meta["model"]
    tagger.entities([["warm", "-", "up"]], None)  # the first request should not compile
    state: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app):
        batcher = state["batcher"] = Batcher(tagger, limits)
        worker = asyncio.create_task(batcher.run())
        try:
            yield
        finally:
            worker.cancel()
            batcher.close()

    app = FastAPI(title="bioner-mtl tagger", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(RequestError)
    async def user_mistake(request: Request, err: RequestError):
        return JSONResponse({"error": err.message}, status_code=err.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        return JSONResponse({"error": f"{err.detail}: {request.method} {request.url.path}; "
                                      f"this service answers {ROUTES}"},
                            status_code=err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):  # no route takes a model
        return JSONResponse({"error": f"invalid request: {err.errors()[0].get('msg')}"},
                            status_code=422)

    @app.exception_handler(Exception)
    async def server_fault(request: Request, err: Exception):  # uvicorn logs the traceback
        return JSONResponse({"error": f"internal error ({type(err).__name__}); the server log "
                                      "has the details"}, status_code=500)

    @app.get("/health")
    async def health():
        batcher = state.get("batcher")
        return {"ok": True, "model": model, "bundle": name, "main": tagger.main,
                "heads": list(tagger.heads), "default_heads": tagger.heads_for(None),
                "limits": {"max_chars": limits.max_chars, "max_texts": limits.max_texts,
                           "max_body_bytes": limits.max_body_bytes},
                "batching": {"window_ms": limits.batch_window_ms,
                             "max_sentences": limits.max_batch_sentences,
                             "passes": batcher.passes if batcher else 0,
                             "requests": batcher.requests if batcher else 0}}

    @app.post("/tag")
    async def tag(request: Request):
        body = await read_body(request, limits.max_body_bytes)
        parsed = parse_request(body, limits, tagger.heads_for)
        sentences = await asyncio.to_thread(lambda: [split_sentences(t) for t in parsed.texts])
        found = await state["batcher"].tag(
            [[token.text for token in s] for tokens in sentences for s in tokens], parsed.heads)
        return {"model": model, "documents": len(parsed.texts),
                "heads": list(parsed.heads or tagger.heads_for(None)),
                "entities": entity_rows(parsed, sentences, found)}

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return PAGE

    return app


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket; a taken port or unknown host is one line naming the fix."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as err:
        raise InputError(f"--host {host} --port {port}: cannot listen there "
                         f"({err.strerror or err}); choose another --port (or --host)") from None
    return sock


def make_server(tagger, limits: Limits = Limits(), name: str | None = None,
                access_log: bool = True):
    """A uvicorn server for the app; `.run(sockets=[listen(host, port)])` serves it."""
    import uvicorn

    config = uvicorn.Config(create_app(tagger, limits, name), log_config=None,
                            access_log=access_log, lifespan="on", timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


@dataclass(frozen=True)
class LoadResult:
    clients: int
    requests: int
    seconds: float
    latencies: tuple[float, ...]  # seconds, in the order the answers came
    passes: int  # model passes the server made for them (from /health)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        """Latency at percentile p (0-100), nearest rank, in milliseconds."""
        ordered = sorted(self.latencies)
        return 1000 * ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def load_test(url: str, texts: Sequence[str], clients: int, requests: int,
              check=None) -> LoadResult:
    """`requests` POST /tag calls ({"text": one of `texts`, in turn}) from `clients` concurrent
    clients, each with its own connection, one call at a time; `check(text, answer)` sees every
    answer. Raises RuntimeError on any non-200 answer."""
    import httpx

    async def main() -> LoadResult:
        latencies: list[float] = []
        counter = iter(range(requests))
        async with httpx.AsyncClient(base_url=url, timeout=120) as probe:
            before = (await probe.get("/health")).json()["batching"]["passes"]

        async def client() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=120,
                                         limits=httpx.Limits(max_connections=1)) as http:
                for i in counter:
                    text = texts[i % len(texts)]
                    began = time.perf_counter()
                    answer = await http.post("/tag", json={"text": text})
                    latencies.append(time.perf_counter() - began)
                    if answer.status_code != 200:
                        raise RuntimeError(f"POST /tag answered {answer.status_code}: "
                                           f"{answer.text[:200]}")
                    if check:
                        check(text, answer.json())

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        seconds = time.perf_counter() - began
        async with httpx.AsyncClient(base_url=url, timeout=120) as probe:
            after = (await probe.get("/health")).json()["batching"]["passes"]
        return LoadResult(clients, requests, seconds, tuple(latencies), after - before)

    return asyncio.run(main())


# GET /: no external assets (it works offline); offsets count code points, as Python's do,
# so the script slices Array.from(text), never the UTF-16 string itself.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bioner-mtl tagger</title>
<style>
 body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
        padding: 0 1rem; color: #222; }
 textarea { width: 100%; height: 10rem; font: inherit; box-sizing: border-box; }
 #output { white-space: pre-wrap; border: 1px solid #ccc; padding: .75rem; min-height: 3rem; }
 mark { border-radius: 3px; padding: 0 1px; cursor: help; }
 mark.h0 { background: #ffe08a; } mark.h1 { background: #9fe3ff; }
 mark.h2 { background: #c8f7a8; } mark.h3 { background: #ffc2e0; }
 mark.overlap { background: #d9c2ff; outline: 1px dashed #555; }
 #error { color: #a00; } #heads label { margin-right: 1rem; } .legend mark { cursor: default; }
</style>
</head>
<body>
<h1>bioner-mtl tagger</h1>
<p id="model">loading the model description...</p>
<textarea id="text" placeholder="Paste biomedical text here">\
Germline mutations in BRCA1 predispose to breast and ovarian cancer.</textarea>
<p><span id="heads"></span> <button id="tag">Tag</button> <span id="error"></span></p>
<div id="output"></div>
<p class="legend" id="legend"></p>
<script>
// segments:begin
function segments(text, entities) {
  // cut the text at every entity boundary; each piece lists the entities covering it
  const chars = Array.from(text);
  const cuts = new Set([0, chars.length]);
  for (const e of entities) { cuts.add(e.start); cuts.add(e.end); }
  const points = [...cuts].sort((a, b) => a - b);
  const pieces = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i], b = points[i + 1];
    pieces.push({text: chars.slice(a, b).join(""),
                 entities: entities.filter(e => e.start <= a && b <= e.end)});
  }
  return pieces;
}
// segments:end
const $ = id => document.getElementById(id);
let headNames = [];
function show(text, entities) {
  const out = $("output");
  out.replaceChildren();
  for (const piece of segments(text, entities)) {
    if (!piece.entities.length) { out.append(piece.text); continue; }
    const mark = document.createElement("mark");
    const heads = new Set(piece.entities.map(e => e.head));
    mark.className = heads.size > 1 ? "overlap" : "h" + (headNames.indexOf(
      piece.entities[0].head) % 4);
    mark.title = piece.entities.map(e => e.head + ": " + e.type + " (confidence "
                                   + e.confidence.toFixed(2) + ")").join("\\n");
    mark.textContent = piece.text;
    out.append(mark);
  }
}
async function tag() {
  $("error").textContent = "";
  const text = $("text").value;
  const heads = [...document.querySelectorAll("#heads input:checked")].map(i => i.value);
  const request = {text: text};
  if (heads.length) request.heads = heads;
  try {
    const answer = await fetch("tag", {method: "POST", body: JSON.stringify(request),
                                       headers: {"Content-Type": "application/json"}});
    const body = await answer.json();
    if (!answer.ok) { $("error").textContent = body.error; return; }
    show(text, body.entities);
    $("output").dataset.entities = body.entities.length;
  } catch (err) { $("error").textContent = String(err); }
}
async function start() {
  try {
    const health = await (await fetch("health")).json();
    headNames = health.heads;
    $("model").textContent = "Model " + health.model + (health.bundle ? " (" + health.bundle
      + ")" : "") + "; hover over an entity for its head, type and confidence.";
    for (const name of health.heads) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = name; box.checked = health.default_heads.includes(name);
      label.append(box, " " + name);
      $("heads").append(label);
      const sample = document.createElement("mark");
      sample.className = "h" + (headNames.indexOf(name) % 4);
      sample.textContent = name;
      $("legend").append(sample, " ");
    }
  } catch (err) { $("error").textContent = String(err); }
  const given = new URLSearchParams(location.search).get("text");
  if (given !== null) { $("text").value = given; await tag(); }
}
$("tag").addEventListener("click", tag);
start();
</script>
</body>
</html>
"""

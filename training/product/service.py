"""A tagging service: a model bundle behind a small JSON API (FastAPI, served by uvicorn).

    POST /tag     {"text": "..."} or {"texts": ["...", ...]}, optionally "heads": [...] and
                  "min_confidence": P  ->  {"model", "documents", "heads", "entities": [...]}
    GET  /health  model, heads and their entity types, the precision a BERT encoder computes
                  in (null: none), limits, and how many model passes served how many requests
    GET  /        a page that tags a pasted text: entities coloured by type with their
                  confidence, a table, counts per type, downloads (JSON lines, BRAT, PubTator)

Each entity is a row of `experiments/predict.py --format jsonl`: document (the text's index
in the request, 0 for "text"), head, type, start, end, text, confidence; start and end count
characters (code points) of that text, and `text[start:end]` is the entity's text, which the
server checks before answering.

Concurrent requests share model passes: a Batcher collects the sentences of the requests that
arrive within a few milliseconds (and of all that queued while the model was busy), up to a
number of sentences, runs the Tagger once per choice of heads in a worker thread (the event
loop keeps accepting requests meanwhile) and hands each request its own sentences' entities.
Every user mistake (malformed JSON, wrong types, unknown heads, unknown fields, requests over
the limits) is a 4xx answer with a one-line `{"error": "..."}`, never a traceback; a request
arriving while more than `max_queued_sentences` wait is answered 503 with Retry-After.

Bound to a loopback address, the service answers only requests whose Host header names
loopback (localhost, 127.0.0.1, [::1], any port; `hosts` adds names): a web page whose name is
rebound to 127.0.0.1 (DNS rebinding) gets 421. When the server stops (Ctrl-C, SIGTERM) it
refuses new connections, gives the requests it has `drain_seconds` to finish, and answers the
rest 503 in JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import json
import logging
import math
import re
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bioner_mtl.data.errors import InputError, install_command
from bioner_mtl.data.text import split_sentences

try:  # module level: FastAPI reads handlers' annotations from this module's names
    from starlette.requests import Request
except ImportError:  # no [serve] extra: the limits and checks still load (serve --help);
    Request = None  # create_app refuses in one line (require_serve)

log = logging.getLogger(__name__)


FIELDS = ("text", "texts", "heads", "min_confidence")  # what a /tag request may hold
EXAMPLE = '{"text": "..."} or {"texts": ["...", "..."]}'
ROUTES = "GET /, GET /health, POST /tag"
# a JSON string spends at most 12 bytes on one character ("\ud83d\ude00" is one code point)
BYTES_PER_CHAR = 12
BODY_SLACK = 64 * 1024  # the rest of a request: keys, heads, brackets
# no /tag field takes a long integer; Python's int() refuses 4,300 digits with a ValueError
MAX_DIGITS = 100
DRAIN_SECONDS = 10.0  # on Ctrl-C, how long requests already received get to finish
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")  # the Host names a loopback service answers
STOPPING = "the service is stopping (Ctrl-C or SIGTERM)"


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for; more is refused with 413 and the limit's name."""

    max_chars: int = 20_000  # characters per text (a long abstract is ~3,000)
    max_texts: int = 32  # texts per request
    max_batch_sentences: int = 512  # sentences per model pass (one request is never split)
    batch_window_ms: float = 5.0  # how long a pass waits for more requests to join it
    max_queued_sentences: int = 8192  # sentences waiting for a pass; more: 503, retry later

    @property
    def max_body_bytes(self) -> int:
        """The body size no request within the other limits can exceed (JSON escapes
        included), so it refuses only what would be refused after parsing anyway."""
        return BYTES_PER_CHAR * self.max_chars * self.max_texts + BODY_SLACK

    def check(self) -> None:
        for name, flag in (("max_chars", "--max-chars"), ("max_texts", "--max-texts"),
                           ("max_batch_sentences", "--max-batch-sentences"),
                           ("max_queued_sentences", "--max-queued-sentences")):
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


class Stopping(Exception):
    """The server stopped before this request's model pass was done: answered 503."""


class Busy(Exception):
    """More sentences wait for the model than the limit: answered 503 with Retry-After, so a
    flood of requests is turned away at once instead of waiting without bound in memory."""


@dataclass(frozen=True)
class TagRequest:
    texts: tuple[str, ...]
    heads: tuple[str, ...] | None  # None: every NER head
    min_confidence: float


def shown(value) -> str:
    """A JSON value for an error message, cut short."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_int(digits: str) -> int:
    """json.loads's integers, refusing those no field takes before int() raises on them."""
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise RequestError(400, f"request body holds a number of {len(digits.lstrip('-'))} "
                                "digits; no /tag field takes one (min_confidence is a number "
                                f"from 0 to 1); send {EXAMPLE}")
    return int(digits)


def parse_request(body: bytes, limits: Limits, heads_for) -> TagRequest:
    """A /tag body, checked: every problem is a RequestError naming the field and the fix.
    `heads_for` is Tagger.heads_for (raises InputError for an unknown head)."""
    if not body.strip():
        raise RequestError(400, f"empty request body; send JSON such as {EXAMPLE}")
    try:
        data = json.loads(body.decode("utf-8"), parse_int=parse_int)
    except UnicodeDecodeError as err:
        raise RequestError(400, f"request body is not UTF-8 ({err.reason} at byte "
                                f"{err.start}); send JSON in UTF-8") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, f"request body is not JSON ({err.msg} at line {err.lineno} "
                                f"column {err.colno}); send {EXAMPLE}") from None
    except RecursionError:
        raise RequestError(400, "request body is nested too deeply to be a /tag request; "
                                f"send {EXAMPLE}") from None
    except ValueError as err:  # any other number json.loads cannot convert
        raise RequestError(400, f"request body is not a /tag request ({err}); "
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
    documents: list[int]  # each sentence's text in its request (a packing bundle packs
    # only sentences of one text: another request's never share a row with it)


class Batcher:
    """Concurrent requests' sentences tagged together: one Tagger call per batch (per choice
    of heads), in one worker thread, results split back to each request."""

    def __init__(self, tagger, limits: Limits):
        self.tagger, self.limits = tagger, limits
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="tagger")
        self.passes = 0  # Tagger calls so far
        self.requests = 0  # requests (with at least one sentence) they served
        self.stopped = False  # set by stop(): every request from then on raises Stopping
        self._carry: Job | None = None  # taken from the queue but over the batch's size
        self._running: list[Job] = []  # the jobs of the batch being tagged
        self.queued = 0  # sentences in the queue and the carried job, not yet in a pass

    async def tag(self, sentences: list[list[str]], heads: tuple[str, ...] | None,
                  documents: list[int] | None = None) -> list[list[tuple]]:
        """Entities of each sentence, as Tagger.entities gives them (Stopping once stopped);
        `documents`: each sentence's text number (default: each sentence its own)."""
        if self.stopped:
            raise Stopping
        if not sentences:
            return []
        if self.queued and self.queued + len(sentences) > self.limits.max_queued_sentences:
            raise Busy(self.queued)  # a lone request of any size is still taken
        future = asyncio.get_running_loop().create_future()
        documents = list(range(len(sentences))) if documents is None else list(documents)
        self.queued += len(sentences)
        await self.queue.put(Job(sentences, heads, future, documents))
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
            self._running = jobs
            self.queued -= size
            try:
                await self._tag(jobs)
            except Exception as err:  # never leave a request waiting on a dead worker
                log.exception("tagging a batch of %d requests failed", len(jobs))
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
            finally:
                self._running = []

    def stop(self) -> None:
        """Answer Stopping to every request not yet answered: queued, or in the pass now
        running (its result, when it comes, is dropped), and to every later one."""
        self.stopped = True
        jobs = [*self._running, *([self._carry] if self._carry else [])]
        self._carry = None
        while not self.queue.empty():
            jobs.append(self.queue.get_nowait())
        self.queued = 0
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(Stopping())

    async def _tag(self, jobs: list[Job]) -> None:
        loop = asyncio.get_running_loop()
        groups: dict[tuple[str, ...] | None, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.heads, []).append(job)
        for heads, group in groups.items():
            sentences = [s for job in group for s in job.sentences]
            documents, base = [], 0  # every request's texts numbered apart
            for job in group:
                documents += [base + d for d in job.documents]
                base += max(job.documents) + 1
            self.passes += 1
            self.requests += len(group)
            try:
                found = await loop.run_in_executor(
                    self.executor, functools.partial(self.tagger.entities, documents=documents),
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
            # the threshold reads the confidence before it is rounded for output, as
            # Tagger.tag and predict.py do
            kept = [e for e in found[index] if e[4] >= request.min_confidence]
            for entity in with_offsets(kept, sentence, text):
                if not (0 <= entity.start < entity.end <= len(text)
                        and text[entity.start:entity.end] == entity.text):
                    raise RuntimeError(f"entity {entity} does not slice document {document} "
                                       f"(length {len(text)})")
                rows.append({"document": document, **dataclasses.asdict(entity)})
            index += 1
    return rows


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if re.fullmatch(r"[0-9]{1,30}", declared) and int(declared) > limit:
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


def allowed_hosts(address: str, extra: Sequence[str] = ()) -> frozenset[str] | None:
    """The Host names a service listening on `address` answers: those of loopback (and
    `extra`) when it is a loopback address, else None (any name: it serves a network)."""
    try:
        loopback = ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        loopback = address.lower() == "localhost"
    if not loopback:
        return None
    return frozenset([*LOOPBACK_NAMES, *(host_name(h) for h in extra)])


def host_name(header: str) -> str:
    """A Host header's name: `localhost:8000` -> localhost, `[::1]:8000` -> ::1."""
    name = header.strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name.rstrip(".")


def host_allowed(header: str, hosts: frozenset[str]) -> bool:
    """Whether a Host header names this service: one of `hosts`, or any loopback address."""
    name = host_name(header)
    if name in hosts:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Service:
    """What the app and its server share: the batcher, the Host names answered (None: any),
    and whether the server is stopping."""

    def __init__(self, hosts: frozenset[str] | None):
        self.hosts, self.batcher, self.stopping = hosts, None, False

    def stop(self, drain_seconds: float) -> None:
        """The server has stopped accepting: requests already received get `drain_seconds`
        to be tagged, then the batcher answers the rest Stopping (503)."""
        self.stopping = True
        if self.batcher is not None:
            asyncio.get_running_loop().call_later(drain_seconds, self.batcher.stop)

    def refusal(self, scope: dict) -> tuple[int, str] | None:
        """Why a request is refused before any route runs: a Host header not naming this
        service (421), or a request arriving while the server stops (503)."""
        if self.stopping:
            return 503, f"{STOPPING}; send the request again once it is back"
        headers = dict(scope.get("headers", ()))
        if self.hosts is None or b"host" not in headers:  # HTTP/1.0 sends none: no browser
            return None
        header = headers[b"host"].decode("latin-1")
        if host_allowed(header, self.hosts):
            return None
        port = (scope.get("server") or ("", 0))[1]
        others = sorted(self.hosts - set(LOOPBACK_NAMES))
        return 421, (f"Host {shown(header)} is not a name of this service: it listens on "
                     f"loopback and answers localhost, 127.0.0.1 and [::1]"
                     f"{''.join(', ' + h for h in others)} only (against DNS rebinding); open "
                     f"http://127.0.0.1:{port}/, or start serve.py with --allow-host "
                     f"{host_name(header) or 'NAME'} to answer that name")


async def send_error(send, status: int, message: str) -> None:
    """A one-line {"error": message} answer, sent straight to the ASGI server."""
    body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            *([(b"connection", b"close")] if status == 503 else [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware in front of every route: Service.refusal answers refused requests;
    a request still running when the server gives up waiting for it (a client sending its
    body slowly past the drain) is answered 503 in JSON, not with uvicorn's plain-text 500
    and a logged traceback."""

    def __init__(self, app, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.service.refusal(scope)
        if refusal is not None:
            await send_error(send, *refusal)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if started or not self.service.stopping:
                raise
            log.warning("%s %s still running when the server stopped: answered 503",
                        scope["method"], scope["path"])
            await send_error(send, 503, f"{STOPPING} before this request was done "
                                        "(--drain-seconds); send it again once it is back")


def entity_types(tagger) -> dict[str, list[str]]:
    """Each NER head's entity types, in its tag set's order (`B-Disease` -> Disease)."""
    return {head: list(dict.fromkeys(
        kind for label in tagger.heads[head].tagset.labels
        if label != "O" and (kind := label.partition("-")[2])))
        for head in tagger.heads_for(None)}


def require_serve() -> None:
    """The service's libraries (FastAPI, starlette, uvicorn: the `serve` extra), or one line
    naming the one missing and how to install them."""
    try:
        import fastapi  # noqa: F401
        import starlette.requests  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        missing = (err.name or "").partition(".")[0] or "one of its libraries"
        raise InputError(f"serving needs FastAPI and uvicorn, the [serve] extra ({missing} is "
                         f"not installed): {install_command('uvicorn')}") from None


def create_app(tagger, limits: Limits = Limits(), name: str | None = None,
               hosts: frozenset[str] | None = None):
    """The FastAPI application serving `tagger` (a training.bundle.Tagger); `hosts`: the Host
    names it answers (None: any; see allowed_hosts). `app.state.service` is its Service."""
    require_serve()
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException

    limits.check()
    model = tagger.meta["model"]
    types = entity_types(tagger)
    tagger.entities([["warm", "-", "up"]], None)  # the first request should not compile
    service = Service(hosts)

    @asynccontextmanager
    async def lifespan(app):
        batcher = service.batcher = Batcher(tagger, limits)
        worker = asyncio.create_task(batcher.run())
        try:
            yield
        finally:
            worker.cancel()
            batcher.close()

    app = FastAPI(title="bioner-mtl tagger", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.service = service
    app.add_middleware(Guard, service=service)

    @app.exception_handler(RequestError)
    async def user_mistake(request: Request, err: RequestError):
        return JSONResponse({"error": err.message}, status_code=err.status)

    @app.exception_handler(Stopping)
    async def stopping(request: Request, err: Stopping):
        return JSONResponse({"error": f"{STOPPING} before this text was tagged "
                                      "(--drain-seconds); send it again once it is back"},
                            status_code=503, headers={"Connection": "close"})

    @app.exception_handler(Busy)
    async def busy(request: Request, err: Busy):
        return JSONResponse({"error": f"busy: {err.args[0]} sentences wait for the model "
                                      f"(--max-queued-sentences {limits.max_queued_sentences});"
                                      " send the request again in a moment"},
                            status_code=503, headers={"Retry-After": "1"})

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
        batcher = service.batcher
        return {"ok": True, "model": model, "bundle": name, "main": tagger.main,
                "heads": list(tagger.heads), "default_heads": tagger.heads_for(None),
                "types": types, "precision": tagger.precision,
                "limits": {"max_chars": limits.max_chars, "max_texts": limits.max_texts,
                           "max_body_bytes": limits.max_body_bytes},
                "batching": {"window_ms": limits.batch_window_ms,
                             "max_sentences": limits.max_batch_sentences,
                             "max_queued_sentences": limits.max_queued_sentences,
                             "queued_sentences": batcher.queued if batcher else 0,
                             "passes": batcher.passes if batcher else 0,
                             "requests": batcher.requests if batcher else 0}}

    @app.post("/tag")
    async def tag(request: Request):
        body = await read_body(request, limits.max_body_bytes)
        parsed = parse_request(body, limits, tagger.heads_for)
        sentences = await asyncio.to_thread(lambda: [split_sentences(t) for t in parsed.texts])
        found = await service.batcher.tag(
            [[token.text for token in s] for tokens in sentences for s in tokens], parsed.heads,
            [text for text, tokens in enumerate(sentences) for _ in tokens])
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
                access_log: bool = True, hosts: frozenset[str] | None = None,
                drain_seconds: float = DRAIN_SECONDS):
    """A uvicorn server for the app; `.run(sockets=[listen(host, port)])` serves it. `hosts`:
    the Host names answered (allowed_hosts(address), None: any). On Ctrl-C or SIGTERM it
    stops accepting connections and gives the requests it has `drain_seconds` to finish;
    the rest are answered 503 in JSON."""
    import signal

    import uvicorn

    app = create_app(tagger, limits, name, hosts)
    service = app.state.service

    class Server(uvicorn.Server):
        signalled: int | None = None  # the first stop signal caught

        def run(self, sockets=None) -> None:
            super().run(sockets)
            # uvicorn re-raises the Ctrl-C it caught, but asyncio's runner lets it pass when
            # the server's task has already ended (a race: exit 0 seen under load); a stopped
            # server exits as an interrupted command does, every time
            if self.signalled == signal.SIGINT:
                raise KeyboardInterrupt

        async def shutdown(self, sockets=None) -> None:
            service.stop(drain_seconds)
            await super().shutdown(sockets)
            if self.force_exit:  # uvicorn then skips the app's shutdown; ours is quick
                await self.lifespan.shutdown()

        def handle_exit(self, sig, frame) -> None:
            # a second Ctrl-C stops without waiting; uvicorn re-raises every signal it caught
            # once it is done, and a second SIGINT would reach asyncio's runner as a
            # KeyboardInterrupt with a traceback: keep only the first
            again = bool(self._captured_signals)
            self.signalled = self.signalled or sig
            super().handle_exit(sig, frame)
            if again:
                self._captured_signals.pop()

    # uvicorn's own limit, after which it cancels what still runs (Guard answers it 503)
    config = uvicorn.Config(app, log_config=None, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=drain_seconds + 1)
    return Server(config)


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


# GET /: one self-contained page (no external assets, no build step: it works offline). Its
# script puts user and model text on the page as text only (textContent), never as HTML.
PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bioner-mtl tagger</title>
<style>
 * { box-sizing: border-box; }
 body { font: 16px/1.5 system-ui, sans-serif; max-width: 62rem; margin: 0 auto;
        padding: .5rem 1rem 2rem; color: #1d1d1f; background: #fff; }
 h1 { font-size: 1.35rem; margin: .6rem 0 .2rem; }
 h2 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
 #model { margin: 0 0 .6rem; color: #555; font-size: .9rem; }
 textarea { display: block; width: 100%; min-height: 8rem; font: inherit; padding: .5rem;
            border: 1px solid #999; border-radius: 4px; resize: vertical; }
 .controls { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem 1rem;
             margin: .5rem 0; }
 #heads { display: flex; flex-wrap: wrap; gap: .2rem .9rem; border: 0; margin: 0;
          padding: 0; }
 #heads legend { float: left; margin-right: .6rem; color: #555; }
 button { font: inherit; padding: .3rem .9rem; border: 1px solid #777; border-radius: 4px;
          background: #f4f4f4; cursor: pointer; }
 button:disabled { opacity: .6; cursor: progress; }
 #tag { background: #1f5fbf; border-color: #1f5fbf; color: #fff; font-weight: 600; }
 .hint { color: #666; font-size: .85rem; }
 #status { min-height: 1.5em; margin: .3rem 0; }
 #status.error { color: #a40000; font-weight: 600; }
 body[data-state="loading"] #status::before { content: ""; display: inline-block;
   width: .8em; height: .8em; margin-right: .4em; border: 2px solid #1f5fbf;
   border-right-color: transparent; border-radius: 50%; animation: spin .8s linear infinite; }
 @keyframes spin { to { transform: rotate(360deg); } }
 .legend { display: flex; flex-wrap: wrap; gap: .35rem; list-style: none; margin: .4rem 0;
           padding: 0; font-size: .9rem; }
 .legend li { display: inline-flex; align-items: center; gap: .35rem; padding: .05rem .6rem;
              border: 1px solid #ccc; border-radius: 1rem; }
 .legend .count { font-weight: 700; font-variant-numeric: tabular-nums; }
 .legend .none { color: #888; }
 .chip { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
         background: hsl(var(--hue) 55% 38%); vertical-align: -.05em; }
 #output { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid #ccc;
           border-radius: 4px; padding: .75rem; line-height: 2.2; }
 mark { color: inherit; padding: .15em .1em; border-radius: 3px;
        background: hsl(var(--hue) 90% 62% / var(--alpha)); }
 mark.overlap { outline: 1px dashed #333; }
 .label { display: inline-block; margin: 0 .3em 0 .15em; padding: 0 .35em; border-radius: 3px;
          font-size: .7em; line-height: 1.5; font-weight: 600; white-space: nowrap;
          vertical-align: .15em; color: #fff; background: hsl(var(--hue) 55% 38%);
          user-select: none; }
 #summary { margin: .5rem 0; }
 .downloads { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem; }
 .table-wrap { overflow-x: auto; }
 table { border-collapse: collapse; width: 100%; font-size: .9rem; }
 th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd;
          vertical-align: top; }
 th { background: #f4f4f4; }
 td.num { text-align: right; font-variant-numeric: tabular-nums; }
 td .chip { margin-right: .3em; }
 @media (max-width: 600px) {
   body { padding: .25rem .6rem 1.5rem; font-size: 15px; }
   table { font-size: .8rem; }
   th, td { padding: .2rem .3rem; }
   .hint { display: none; }
 }
</style>
</head>
<body data-state="starting">
<h1>bioner-mtl tagger</h1>
<p id="model">Loading the model description…</p>
<textarea id="text" aria-label="Text to tag" placeholder="Paste biomedical text here"
>Germline mutations in BRCA1 predispose to breast and ovarian cancer.</textarea>
<div class="controls">
 <fieldset id="heads"><legend>Heads</legend></fieldset>
 <button id="tag" type="button">Tag</button>
 <span class="hint">or Ctrl+Enter</span>
</div>
<p id="status" role="status" aria-live="polite"></p>
<ul id="legend" class="legend" aria-label="Entity types and how many were found"></ul>
<section id="results" hidden>
 <div id="output" aria-label="The text with its entities"></div>
 <p id="summary"></p>
 <div class="downloads">Download:
  <button id="dl-jsonl" type="button" title="predict.py --format jsonl">JSON lines</button>
  <button id="dl-brat" type="button" title="predict.py --format brat">BRAT .ann</button>
  <button id="dl-pubtator" type="button" title="predict.py --format pubtator">PubTator</button>
 </div>
 <h2>Entities</h2>
 <div class="table-wrap">
  <table>
   <thead><tr><th>Text</th><th>Type</th><th>Start</th><th>End</th><th>Confidence</th>
   <th>Head</th></tr></thead>
   <tbody id="rows"></tbody>
  </table>
 </div>
</section>
<script>
"use strict";
// Everything the user or the model wrote is put on the page as text (textContent, append of
// strings), never parsed as HTML. Offsets count code points, as Python's do, so the script
// slices Array.from(text), never the UTF-16 string itself.
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
// formats:begin
// what experiments/predict.py writes for these entities, byte for byte
const SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/gu;
function pyFloat(x) { return Number.isInteger(x) ? x.toFixed(1) : String(x); }
function jsonLines(rows) {
  // --format jsonl: json.dumps(row, ensure_ascii=False), one row a line
  return rows.map(r => "{" + Object.keys(r).map(k => JSON.stringify(k) + ": " + (
    k === "confidence" ? pyFloat(r[k]) : JSON.stringify(r[k]))).join(", ") + "}\n").join("");
}
function bratType(head, type) { return (head + "_" + type).replace(/[^0-9A-Za-z_-]/gu, "_"); }
function brat(rows) {
  // --format brat: T1<TAB>HEAD_TYPE START END<TAB>text, whitespace in the text as spaces
  return rows.map((r, i) => "T" + (i + 1) + "\t" + bratType(r.head, r.type) + " " + r.start
                  + " " + r.end + "\t" + r.text.replace(SPACE, " ") + "\n").join("");
}
function pubtator(id, text, rows) {
  // --format pubtator: the text as the title (line breaks as spaces), then one mention a line
  const lines = [id + "|t|" + text.replace(/[\r\n]/g, " "), id + "|a|"];
  for (const r of rows) {
    lines.push([id, r.start, r.end, r.text.replace(SPACE, " "), r.type, "", r.head,
                pyFloat(r.confidence)].join("\t"));
  }
  return lines.join("\n") + "\n";
}
// formats:end
const $ = id => document.getElementById(id);
const HUES = [40, 205, 125, 330, 270, 15, 175, 240, 85, 300];
const hues = new Map();  // entity type -> hue, in the order the bundle lists its types
let generation = 0;  // bumped by every new input: a late answer to an older one is dropped
let result = null;  // {text, entities} on the page now
function hue(type) {
  if (!hues.has(type)) hues.set(type, HUES[hues.size % HUES.length]);
  return hues.get(type);
}
function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}
function paint(made, type, confidence) {
  made.style.setProperty("--hue", hue(type));
  // a highlight is fainter the less certain the entity: 0.5 -> 33% opacity, 0.9 -> 83%
  if (confidence !== undefined) {
    made.style.setProperty("--alpha", (0.1 + 0.9 * confidence * confidence).toFixed(2));
  }
  return made;
}
function chip(type) { return paint(element("span", undefined, "chip"), type); }
function confidence(e) { return e.confidence.toFixed(2); }
function describe(e) { return e.type + ", confidence " + confidence(e) + " (" + e.head + ")"; }
function setStatus(state, message, isError) {
  document.body.dataset.state = state;
  $("status").textContent = message || "";
  $("status").className = isError ? "error" : "";
  $("tag").disabled = state === "loading";
  $("tag").textContent = state === "loading" ? "Tagging…" : "Tag";
}
function clear(state, message, isError) {
  // no result stays on the page under a text it was not found in
  result = null;
  $("results").hidden = true;
  $("output").replaceChildren();
  $("rows").replaceChildren();
  $("summary").textContent = "";
  showLegend([]);
  setStatus(state, message, isError);
}
function showLegend(entities) {
  const counts = new Map();
  for (const e of entities) { hue(e.type); counts.set(e.type, (counts.get(e.type) || 0) + 1); }
  $("legend").replaceChildren();
  for (const type of hues.keys()) {
    const item = element("li");
    item.dataset.type = type;
    item.append(chip(type), element("span", type));
    if (result) {
      const n = counts.get(type) || 0;
      item.append(element("span", String(n), n ? "count" : "count none"));
    }
    $("legend").append(item);
  }
}
function showText(text, entities) {
  const out = $("output");
  out.replaceChildren();
  let position = 0;
  for (const piece of segments(text, entities)) {
    position += Array.from(piece.text).length;
    if (!piece.entities.length) { out.append(piece.text); continue; }
    // the innermost entity colours a piece several cover; each entity's label follows its end
    const inner = piece.entities.reduce((a, b) => b.end - b.start < a.end - a.start ? b : a);
    const mark = paint(element("mark", piece.text), inner.type, inner.confidence);
    if (piece.entities.length > 1) mark.className = "overlap";
    mark.title = piece.entities.map(describe).join("\n");
    out.append(mark);
    for (const e of piece.entities.filter(e => e.end === position)) {
      const label = paint(element("span", e.type + " " + confidence(e), "label"), e.type);
      label.title = describe(e);
      out.append(label);
    }
  }
}
function showTable(entities) {
  const ordered = [...entities].sort((a, b) => a.start - b.start || a.end - b.end);
  for (const e of ordered) {
    const row = element("tr");
    const type = element("td", e.type);
    type.prepend(chip(e.type));
    row.append(element("td", e.text), type, element("td", String(e.start), "num"),
               element("td", String(e.end), "num"), element("td", confidence(e), "num"),
               element("td", e.head));
    $("rows").append(row);
  }
}
function show(text, body, milliseconds) {
  result = {text: text, entities: body.entities};
  showText(text, body.entities);
  showTable(body.entities);
  showLegend(body.entities);
  const n = body.entities.length;
  $("summary").textContent = (n === 1 ? "1 entity" : n + " entities") + " found by "
    + body.heads.join(", ") + " in " + milliseconds + " ms. The number beside each is its "
    + "confidence (0 to 1); fainter highlights are less certain.";
  $("results").hidden = false;
  setStatus("done", n ? "" : "No entities found in this text.");
  // the address is now a link to this text: shared, it tags the text on load
  const link = new URL(location.href);
  link.search = new URLSearchParams({text: text}).toString();
  if (link.href.length <= 8000) history.replaceState(null, "", link.href);
}
async function tag() {
  const text = $("text").value;
  const mine = ++generation;
  if (!text.trim()) {
    clear("empty", "Nothing to tag: paste or type a text first.", true);
    return;
  }
  clear("loading", "Tagging…");
  const request = {text: text};
  const heads = [...document.querySelectorAll("#heads input:checked")].map(i => i.value);
  if (heads.length) request.heads = heads;
  const began = performance.now();
  let answer, body = null;
  try {
    answer = await fetch("tag", {method: "POST", body: JSON.stringify(request),
                                 headers: {"Content-Type": "application/json"}});
    body = await answer.json().catch(() => null);
  } catch (err) {
    if (mine === generation) {
      clear("error", "The service did not answer (" + err.message + "); is serve.py running?",
            true);
    }
    return;
  }
  if (mine !== generation) return;  // the text changed meanwhile: this answer is stale
  if (!answer.ok || !body || !Array.isArray(body.entities)) {
    clear("error", (body && body.error) || ("The service answered HTTP " + answer.status
                                            + " " + answer.statusText), true);
    return;
  }
  show(text, body, Math.round(performance.now() - began));
}
function download(name, content) {
  const url = URL.createObjectURL(new Blob([content], {type: "text/plain;charset=utf-8"}));
  const link = element("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
function changed() {
  generation++;
  if (document.body.dataset.state !== "ready") {
    clear("ready", "Text or heads changed: press Tag (or Ctrl+Enter) to tag again.");
  }
}
async function start() {
  try {
    const answer = await fetch("health");
    const health = await answer.json();
    if (!answer.ok) throw new Error(health.error || "HTTP " + answer.status);
    $("model").textContent = "Model " + health.model + (health.bundle ? " (" + health.bundle
      + ")" : "") + ". Entities are coloured by type; the number beside each is its "
      + "confidence. Hover over one for its head.";
    for (const name of health.heads) {
      const label = element("label");
      const box = element("input");
      box.type = "checkbox";
      box.value = name;
      box.checked = health.default_heads.includes(name);
      box.addEventListener("change", changed);
      label.append(box, " " + name);
      $("heads").append(label);
    }
    for (const types of Object.values(health.types || {})) types.forEach(hue);
    showLegend([]);
  } catch (err) {
    clear("error", "Could not read the service's description (" + err.message + ").", true);
    return;
  }
  const given = new URLSearchParams(location.search).get("text");
  if (given !== null) $("text").value = given;
  await tag();  // the example, or the text of a shared link
}
$("tag").addEventListener("click", tag);
$("text").addEventListener("input", changed);
$("text").addEventListener("keydown", event => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    tag();
  }
});
$("dl-jsonl").addEventListener("click", () => download("entities.jsonl",
                                                        jsonLines(result.entities)));
$("dl-brat").addEventListener("click", () => download("entities.ann", brat(result.entities)));
$("dl-pubtator").addEventListener("click", () => download("entities.pubtator",
  pubtator("page", result.text, result.entities)));
start();
</script>
</body>
</html>
"""

"""Serve a model bundle over HTTP: a JSON API, a health endpoint and a page to try it on.

    python experiments/serve.py --model runs/my-model                  # http://127.0.0.1:8000
    curl -s localhost:8000/tag -d '{"text": "Germline mutations in BRCA1 predispose to cancer."}'
    curl -s localhost:8000/tag -d '{"texts": ["First abstract.", "Second."], "heads": ["BC2GM"]}'
    curl -s localhost:8000/health

POST /tag answers {"model", "documents", "heads", "entities": [...]}, each entity a row of
`predict.py --format jsonl` (document: the text's index in the request; start and end count
characters of that text). Concurrent requests share model passes (--batch-window-ms); a
request over --max-chars or --max-texts, malformed JSON, a wrong type or an unknown head gets
a 4xx answer with a one-line {"error": "..."}. Open http://127.0.0.1:8000/ in a browser to tag
a pasted text: entities coloured by type with their confidence, a table, downloads;
http://127.0.0.1:8000/?text=... tags that text on load (a link to share).

On loopback (the default) it answers only Host names of loopback (localhost, 127.0.0.1,
[::1]; --allow-host adds one), so a web page cannot reach it by rebinding its own name to
127.0.0.1. Ctrl-C stops accepting connections, lets the requests it has finish for up to
--drain-seconds and answers the rest 503.

Needs the [serve] extra (FastAPI and uvicorn): pip install 'bioner-mtl[serve]'; without it
the command says so in one line (--help works either way).

A BERT bundle's encoder computes in bfloat16 on a GPU or a CPU with AMX and in float32
elsewhere (--precision; /health says which).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import re
import sys
from pathlib import Path

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, add_verbose_argument, run
from bioner_mtl.training.product.service import DRAIN_SECONDS, Limits, require_serve

log = logging.getLogger("serve")
DEFAULTS = Limits()


def is_ipv6(name: str) -> bool:
    try:
        ipaddress.IPv6Address(name)
    except ValueError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    from bioner_mtl.training.product.bundle import PRECISION_HELP, PRECISIONS

    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a bundle written by train.py --save-model")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-chars", type=int, default=DEFAULTS.max_chars,
                   help=f"characters per text (default {DEFAULTS.max_chars})")
    p.add_argument("--max-texts", type=int, default=DEFAULTS.max_texts,
                   help=f"texts per request (default {DEFAULTS.max_texts}); the body may hold "
                        "at most what these two allow")
    p.add_argument("--batch-window-ms", type=float, default=DEFAULTS.batch_window_ms,
                   help="milliseconds a model pass waits for concurrent requests to join it "
                        f"(default {DEFAULTS.batch_window_ms:g}; 0: only those already queued)")
    p.add_argument("--max-batch-sentences", type=int, default=DEFAULTS.max_batch_sentences,
                   help="sentences per model pass (default "
                        f"{DEFAULTS.max_batch_sentences}; a request is never split)")
    p.add_argument("--max-queued-sentences", type=int, default=DEFAULTS.max_queued_sentences,
                   help="sentences that may wait for the model; a request beyond them is "
                        f"answered 503 with Retry-After (default {DEFAULTS.max_queued_sentences})")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a Host name to answer besides localhost, 127.0.0.1 and [::1] when "
                        "listening on loopback (a proxy's name; repeat for more); other "
                        "names get 421, against DNS rebinding")
    p.add_argument("--drain-seconds", type=float, default=DRAIN_SECONDS,
                   help="on Ctrl-C or SIGTERM, seconds the requests already received get to "
                        f"finish; the rest are answered 503 (default {DRAIN_SECONDS:g})")
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                   help="one log line per request (default on)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    add_verbose_argument(p)
    args = p.parse_args(argv)  # --help works without the [serve] extra
    require_serve()  # without it: one line with the pip command, before the bundle loads
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port {args.port}: must be 0 to 65535 (0: any free port)")
    limits = Limits(args.max_chars, args.max_texts, args.max_batch_sentences,
                    args.batch_window_ms, args.max_queued_sentences)
    limits.check()
    if not 0 <= args.drain_seconds <= 3600 or math.isnan(args.drain_seconds):
        raise InputError(f"--drain-seconds {args.drain_seconds:g}: must be between 0 and 3600 "
                         "(seconds requests in flight get to finish when the server stops)")
    for name in args.allow_host:
        if not (re.fullmatch(r"[A-Za-z0-9_.-]+", name) or is_ipv6(name.removeprefix("[")
                                                                .removesuffix("]"))):
            raise InputError(f"--allow-host {name!r}: not a host name; give the name alone, "
                             "without a scheme, port or path (e.g. --allow-host tagger.lab)")
    from bioner_mtl.training.product.bundle import load, warn_if_no_encoder
    from bioner_mtl.training.product.service import allowed_hosts, listen, make_server

    sock = listen(args.host, args.port)  # a taken port fails before the model loads
    tagger = load(args.model, args.precision)
    warn_if_no_encoder(tagger, args.precision)
    server = make_server(tagger, limits, Path(args.model).resolve().name,
                         access_log=args.access_log,
                         hosts=allowed_hosts(sock.getsockname()[0], args.allow_host),
                         drain_seconds=args.drain_seconds)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info("serving %s%s on http://%s:%d/ (POST /tag, GET /health; Ctrl-C stops)",
             args.model, f" (encoder in {tagger.precision})" if tagger.precision else "",
             shown, port)
    server.run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(run(main))

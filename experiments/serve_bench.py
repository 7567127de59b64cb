"""Load-test the tagging service: requests per second and latency percentiles by concurrency.

    python experiments/serve_bench.py --model runs/my-model                 # starts serve.py
    python experiments/serve_bench.py --url http://127.0.0.1:8000           # a running one

Each request is one abstract-sized text ({"text": ...}): --sentences consecutive sentences of
a bundled corpus's test split, joined with spaces. For each number of concurrent clients (each
with its own connection, one request at a time) it sends --requests requests, checks that
every entity's offsets slice its text, and prints one Markdown table row: requests per second,
latency p50/p90/p99 and how many requests shared a model pass on average.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bioner_mtl.data.errors import InputError
from bioner_mtl.training.cli import ArgumentParser, add_verbose_argument, run

log = logging.getLogger("serve_bench")
SERVE = Path(__file__).with_name("serve.py")


def abstracts(corpus: str, size: int) -> list[str]:
    from bioner_mtl.data.corpora import load_corpus

    sentences = [" ".join(s.tokens) for s in load_corpus(corpus).test]
    return [" ".join(sentences[i:i + size]) for i in range(0, len(sentences) - size + 1, size)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [sys.executable, str(SERVE), "--model", args.model, "--port", str(port),
               "--batch-window-ms", str(args.batch_window_ms), "--no-access-log"]
    output = tempfile.TemporaryFile()  # the server's stderr: its one-line error, if it stops
    server = subprocess.Popen(command, stderr=output)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output.seek(0)
            said = output.read().decode(errors="replace").strip().splitlines()
            error = next((line for line in reversed(said) if line.startswith("error: ")), "")
            raise InputError(error.removeprefix("error: ") or
                             f"serve.py --model {args.model} stopped (exit "
                             f"{server.returncode}) before answering")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                log.info("started %s", " ".join(command))
                return server, url
        except httpx.TransportError:
            time.sleep(0.5)
    server.terminate()
    raise InputError(f"serve.py on port {port} did not answer /health within 180 s")


def check_url(url: str) -> str:
    """--url as a base URL: http(s)://HOST[:PORT], refused in one line otherwise."""
    import httpx

    try:
        parsed = httpx.URL(url)
        port = parsed.port  # a port that is not a number fails here
    except (httpx.InvalidURL, ValueError, TypeError) as err:
        raise InputError(f"--url {url!r}: not a URL ({err}); give http://HOST:PORT") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"--url {url!r}: give http://HOST:PORT (or https://) of a running "
                         "serve.py")
    if port is not None and not 0 < port < 65536:
        raise InputError(f"--url {url!r}: port {port} is not 1 to 65535")
    return url.rstrip("/")


def probe(url: str) -> None:
    """The service at `url` answers GET /health as serve.py does, or one line says why not:
    nothing listening, no answer, or another program's answer."""
    import httpx

    try:
        answer = httpx.get(f"{url}/health", timeout=10)
    except httpx.HTTPError as err:
        raise InputError(f"--url {url}: no service answers ({type(err).__name__}: {err}); "
                         "start experiments/serve.py or check the host and port") from None
    try:
        body = answer.json()
        ours = answer.status_code == 200 and body.get("ok") is True and isinstance(
            body["batching"]["passes"], int)
    except (ValueError, TypeError, KeyError, AttributeError):
        ours = False
    if not ours:
        raise InputError(f"--url {url}: GET /health answered {answer.status_code} "
                         f"{answer.headers.get('content-type', '')!r}, not as "
                         "experiments/serve.py does: is this the tagging service?")


def check(text: str, body: dict) -> None:
    for row in body["entities"]:
        if text[row["start"]:row["end"]] != row["text"]:
            raise RuntimeError(f"offsets {row['start']}:{row['end']} do not slice the text: "
                               f"{row}")


def main(argv: list[str] | None = None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--model", help="a bundle: serve.py is started with it on a free port")
    target.add_argument("--url", help="a running service, http://HOST:PORT")
    p.add_argument("--corpus", default="NCBI-disease", help="whose test split the texts come "
                                                             "from (default NCBI-disease)")
    p.add_argument("--sentences", type=int, default=10,
                   help="sentences per text (default 10, about an abstract)")
    p.add_argument("--clients", default="1,4,16", help="concurrent clients, A,B (default 1,4,16)")
    p.add_argument("--requests", type=int, default=200,
                   help="requests per concurrency level (default 200)")
    p.add_argument("--batch-window-ms", type=float, default=5.0,
                   help="the started server's --batch-window-ms (default 5)")
    add_verbose_argument(p)
    args = p.parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    try:
        clients = [int(c) for c in args.clients.split(",")]
    except ValueError:
        raise InputError(f"--clients {args.clients!r}: give numbers, A,B") from None
    if not clients or min(clients) < 1 or args.requests < 1 or args.sentences < 1:
        raise InputError("--clients, --requests and --sentences must be at least 1")
    import httpx

    from bioner_mtl.training.product.service import load_test

    texts = abstracts(args.corpus, args.sentences)
    if not texts:
        raise InputError(f"{args.corpus}: its test split has fewer than {args.sentences} "
                         "sentences")
    if args.url:
        url = check_url(args.url)
        probe(url)  # before any load: a wrong address or another program is one line
    server, url = start_server(args) if args.model else (None, url)
    try:
        run_levels(args, url, texts, clients, load_test)
    except (httpx.HTTPError, RuntimeError, KeyError, ValueError, TypeError) as err:
        # the service stopped or answered otherwise half way: what the run saw, in one line
        raise InputError(f"{url}: the load test stopped ({type(err).__name__}: {err})"
                         ) from None
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)


def run_levels(args, url: str, texts: list[str], clients: list[int], load_test) -> None:
    """The warm-up, then a table row per number of concurrent clients."""
    load_test(url, texts, clients=1, requests=min(10, len(texts)), check=check)  # warm up
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} texts of {args.sentences} sentences ({chars:.0f} characters on "
          f"average) from {args.corpus} test; {platform.processor() or platform.machine()}"
          f", {os.cpu_count()} cores\n")
    print("| clients | requests | requests/s | p50 ms | p90 ms | p99 ms | requests per pass |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in clients:
        result = load_test(url, texts, clients=count, requests=max(args.requests, count),
                           check=check)
        print(f"| {count} | {result.requests} | {result.per_second:.1f} | "
              f"{result.percentile(50):.0f} | {result.percentile(90):.0f} | "
              f"{result.percentile(99):.0f} | "
              f"{result.requests / max(result.passes, 1):.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(run(main))

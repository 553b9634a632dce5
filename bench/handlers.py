"""Handler benchmarks: cold imports, local generate throughput, stream time to first byte.

* Cold import: median wall time of ``import <handler module>`` over fresh
  subprocesses (bytecode cached, as in a deployed bundle), and its ratio to
  ``import boto3`` alone, the floor of any Python Lambda that talks to AWS.
* Generate throughput: ``local/echo`` on SQLite + file blobs (the embedded
  default) through the api handler with REST proxy events, and the same turns
  with ``Agent.generate`` directly (the handler's own overhead is the difference).
* Stream: over HTTP (uvicorn + httpx), the delay between the model yielding its
  first token and the client reading the chunk that carries it, and the time to
  the response's first byte.

Writes ``handlers.json`` (see :mod:`bench.output`).

    python -m bench.handlers
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import output

RESULTS = "handlers.json"
ROOT = Path(__file__).resolve().parent.parent
MODULES = ("handlers.api", "handlers.stream", "handlers.worker", "handlers.local")
IMPORT_RUNS = 15
GENERATE_TURNS = 200
STREAM_RUNS = 20
FIRST_TOKEN_DELAY = 0.05  # the model "thinks" this long before its first token


def _import_seconds(statement: str, env: dict[str, str]) -> float:
    code = (f"import time; t = time.perf_counter(); {statement}; "
            "print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def cold_imports() -> dict[str, Any]:
    """Import times off Lambda and as in Lambda (function name set, X-Ray tracing on)."""
    local = _cold_imports({})
    in_lambda = _cold_imports({"AWS_LAMBDA_FUNCTION_NAME": "bench",
                               "POWERTOOLS_TRACE_DISABLED": "false"})
    return {"local": local, "as_in_lambda_with_tracing": in_lambda}


def _cold_imports(extra_env: dict[str, str]) -> dict[str, Any]:
    """Median import time per handler module and its ratio to ``import boto3``."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(extra_env)
        env["PYTHONPYCACHEPREFIX"] = cache
        statements = {"boto3": "import boto3", **{m: f"import {m}" for m in MODULES}}
        for statement in statements.values():  # warm the bytecode cache once
            _import_seconds(statement, env)
        # Interleaved, so drift in the machine's load hits every module alike.
        samples: dict[str, list[float]] = {name: [] for name in statements}
        for _ in range(IMPORT_RUNS):
            for name, stmt in statements.items():
                samples[name].append(_import_seconds(stmt, env))
        medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["boto3"]
    return {
        "runs": IMPORT_RUNS,
        "boto3_ms": round(base * 1000, 1),
        "modules": {m: {"median_ms": round(medians[m] * 1000, 1),
                        "ratio_to_boto3": round(medians[m] / base, 2)} for m in MODULES},
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def generate_throughput() -> dict[str, Any]:
    """Turns per second on the embedded default, via the api handler and directly."""
    import storage
    from agents import Agent, App, InlineJobRunner, Memory
    from handlers import _wiring
    from handlers.api import handler
    from handlers.events import LocalContext, rest_event

    out: dict[str, Any] = {"turns": GENERATE_TURNS, "model": "local/echo",
                           "storage": "sqlite + file blobs"}
    with tempfile.TemporaryDirectory() as folder:
        store = storage.CompositeStore(storage.open(f"sqlite:///{folder}/b.db"),
                                       blobs=storage.open(f"file:///{folder}/blobs"))
        store.setup()
        app = App(agents=[Agent(id="assistant", model="local/echo", memory=Memory())],
                  storage=store, jobs=InlineJobRunner())
        _wiring.use_app(app)
        try:
            for label, turn in (("api_handler", _via_handler), ("agent_generate", _direct)):
                latencies = []
                started = time.perf_counter()
                for n in range(GENERATE_TURNS):
                    t0 = time.perf_counter()
                    turn(n, app, handler, rest_event, LocalContext)
                    latencies.append(time.perf_counter() - t0)
                wall = time.perf_counter() - started
                out[label] = {
                    "turns_per_s": round(GENERATE_TURNS / wall, 1),
                    "p50_ms": round(_percentile(latencies, 0.5) * 1000, 2),
                    "p95_ms": round(_percentile(latencies, 0.95) * 1000, 2),
                }
        finally:
            _wiring.use_app(None)
            store.close()
    return out


def _via_handler(n: int, app: Any, handler: Any, rest_event: Any, context: Any) -> None:
    body = json.dumps({"messages": f"turn {n} " + "x" * 180,
                       "memory": {"thread": f"api-{n % 10}", "resource": "user-1"}})
    result = handler(rest_event("POST", "/api/agents/assistant/generate", body=body,
                                headers={"Content-Type": "application/json"}), context())
    assert result["statusCode"] == 200, result["body"]


def _direct(n: int, app: Any, *_: Any) -> None:
    app.get_agent("assistant").generate(f"turn {n} " + "x" * 180,
                                        memory={"thread": f"direct-{n % 10}",
                                                "resource": "user-1"})


class _TimedModel:
    """Waits ``FIRST_TOKEN_DELAY``, notes when it yields its first token, then the rest."""

    id = "bench/timed"

    def __init__(self) -> None:
        self.first_token_at: float | None = None

    def generate(self, request: Any) -> Any:
        from agents.models.base import collect

        return collect(self.stream(request))

    def stream(self, request: Any) -> Iterator[Any]:
        from agents.models.base import Finish, TextDelta, Usage

        time.sleep(FIRST_TOKEN_DELAY)
        self.first_token_at = time.perf_counter()
        yield TextDelta("first")
        for word in (" second", " third"):
            time.sleep(0.005)
            yield TextDelta(word)
        yield Finish("stop", Usage(1, 3))


def stream_latency() -> dict[str, Any]:
    """First-token-to-client delay and time to first byte, over real HTTP."""
    import httpx
    import uvicorn

    import storage
    from agents import Agent, App, InlineJobRunner
    from agents.models.base import Model
    from handlers import _wiring
    from handlers.stream import app as stream_app

    model = _TimedModel()
    assert isinstance(model, Model)
    store = storage.open("memory://")
    app = App(agents=[Agent(id="timed", model=model)], storage=store, jobs=InlineJobRunner())
    _wiring.use_app(app)
    server = uvicorn.Server(uvicorn.Config(stream_app, host="127.0.0.1", port=0,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    delays, ttfb = [], []
    try:
        with httpx.Client(timeout=30) as client:
            for n in range(STREAM_RUNS):
                body = {"messages": "hi", "memory": {"thread": f"s-{n}", "resource": "u"}}
                sent = time.perf_counter()
                with client.stream("POST", f"http://127.0.0.1:{port}/api/agents/timed/stream",
                                   json=body) as response:
                    first_byte: float | None = None
                    lines = response.iter_lines()
                    for line in lines:
                        first_byte = first_byte or time.perf_counter()
                        if '"text-delta"' in line:
                            received = time.perf_counter()
                            break
                    for _ in lines:
                        pass
                assert model.first_token_at is not None and first_byte is not None
                delays.append(received - model.first_token_at)
                ttfb.append(first_byte - sent)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _wiring.use_app(None)
    return {
        "runs": STREAM_RUNS,
        "model_first_token_after_ms": FIRST_TOKEN_DELAY * 1000,
        "first_token_to_client_ms": {"median": round(statistics.median(delays) * 1000, 2),
                                     "max": round(max(delays) * 1000, 2)},
        "time_to_first_byte_ms": {"median": round(statistics.median(ttfb) * 1000, 2),
                                  "max": round(max(ttfb) * 1000, 2)},
    }


def main() -> int:
    """Run the three measurements and write the results file."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    results = {
        "suite": "handlers",
        "python": sys.version.split()[0],
        "cold_imports": cold_imports(),
        "generate": generate_throughput(),
        "stream": stream_latency(),
    }
    print(json.dumps(results, indent=2))
    output.write_json(RESULTS, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Web app latency: `mnistlab serve` started on loopback, then p50/p99 of POST /api/predict (both
networks on one drawing) one request at a time, and a bounded load of requests 8 at a time.

    python benchmarks/web_latency.py [--runs runs] [--requests 300] [--load 500] [--concurrency 8]

Uses the latest mlp and cnn runs in --runs; if there are none, it trains quick ones first (about a
minute). The payload is what the page sends: a 280×280 PNG of a digit drawn dark on white."""

import argparse
import io
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from mnistlab import data
from mnistlab.errors import MnistlabError
from mnistlab.runs import latest_run
from mnistlab.train import TrainConfig, train_run

TARGET_P50_MS = 20.0


def canvas_pngs(count: int) -> list[bytes]:
    """MNIST test digits as the page would send them: enlarged ×8 on a white 280×280 canvas, dark ink."""
    images, _ = data.load_split(None, "test")
    pngs = []
    for image in images[:count, 0].numpy():
        digit = Image.fromarray(np.round(image * 255).astype(np.uint8)).resize((224, 224), Image.BILINEAR)
        canvas = Image.new("L", (280, 280), 0)
        canvas.paste(digit, (28, 28))
        buffer = io.BytesIO()
        Image.eval(canvas, lambda v: 255 - v).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs


def ensure_runs(runs_dir: Path) -> Path:
    try:
        for name in ("mlp", "cnn"):
            latest_run(runs_dir, name)
        return runs_dir
    except MnistlabError:
        quick = Path(tempfile.mkdtemp(prefix="mnistlab-bench-runs-"))
        print(f"no trained runs in {runs_dir}: training quick ones (one epoch each) in {quick}")
        for name in ("mlp", "cnn"):
            train_run(TrainConfig(model=name, lr=0.1, epochs=1, device="cpu"), quick / name, log=lambda _: None)
        return quick


def post(client: httpx.Client, url: str, png: bytes) -> tuple[float, bool]:
    """(milliseconds, ok) for one prediction."""
    started = time.perf_counter()
    try:
        response = client.post(url, content=png, headers={"Content-Type": "image/png"})
        ok = response.status_code == 200 and {"mlp", "cnn"} <= response.json().keys()
    except httpx.HTTPError:
        ok = False
    return 1000 * (time.perf_counter() - started), ok


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of run folders (default: runs)")
    parser.add_argument("--requests", type=int, default=300, help="sequential requests timed (default: 300)")
    parser.add_argument("--load", type=int, default=500, help="requests in the load test (default: 500)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default: 8)")
    args = parser.parse_args()

    runs_dir = ensure_runs(args.runs)
    pngs = canvas_pngs(50)
    server = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--port", "0", "--runs", str(runs_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not match:
            raise SystemExit(f"the server did not start: {line!r}")
        url = match.group(0) + "api/predict"
        print(f"server {match.group(0)} (runs: {runs_dir}); payload: 280×280 canvas PNGs, "
              f"{statistics.mean(map(len, pngs)) / 1024:.1f} kB on average")

        with httpx.Client() as client:
            for png in pngs[:20]:  # warm-up: connections, allocator, first forward passes
                post(client, url, png)
            timings = [post(client, url, pngs[i % len(pngs)]) for i in range(args.requests)]
        latencies = [ms for ms, _ in timings]
        errors = sum(not ok for _, ok in timings)
        p50 = percentile(latencies, 50)
        print(f"one at a time, {args.requests} requests: p50 {p50:.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
              f"errors {errors}  (target p50 <= {TARGET_P50_MS:.0f} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'})")

        clients = [httpx.Client() for _ in range(args.concurrency)]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda i: post(clients[i % args.concurrency], url, pngs[i % len(pngs)]),
                                    range(args.load)))
        seconds = time.perf_counter() - started
        for client in clients:
            client.close()
        latencies = [ms for ms, _ in results]
        errors = sum(not ok for _, ok in results)
        print(f"load, {args.load} requests {args.concurrency} at a time: {args.load / seconds:.0f} requests/s, "
              f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, errors {errors}")
        if errors:
            raise SystemExit(f"{errors} requests failed")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()

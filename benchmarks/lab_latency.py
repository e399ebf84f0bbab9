"""The studio's lab request: POST /api/lab (the drawing moved and rotated, every layer of both
networks and the confidence while sliding −6..+6 px, 13 images batched) against POST /api/inside
(the same drawing, no controls, no slide), in-process with FastAPI's TestClient, one at a time.

    python benchmarks/lab_latency.py [--runs runs] [--requests 100]

Target (issue 20): the lab request at most 50 ms (p50) here."""

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from mnistlab.web.app import create_app

TARGET_MS = 50.0


def seven() -> bytes:
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).line([(70, 60), (210, 60), (120, 235)], fill=0, width=24)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def timings(client, url, png, count):
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post(url, content=png, headers={"Content-Type": "image/png"})
        seconds.append(time.perf_counter() - started)
        response.raise_for_status()
    return np.array(seconds) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    client = TestClient(create_app(runs_dir=args.runs))
    png = seven()
    timings(client, "/api/lab?dx=2&angle=15", png, 5)  # warm up both routes
    timings(client, "/api/inside", png, 5)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    inside = timings(client, "/api/inside", png, args.requests)
    lab = timings(client, "/api/lab?dx=2&dy=-1&angle=15", png, args.requests)
    for name, ms in (("/api/inside", inside), ("/api/lab", lab)):
        print(f"{name:<12} p50 {statistics.median(ms):6.1f} ms   p90 {np.percentile(ms, 90):6.1f} ms")
    p50 = statistics.median(lab)
    print(f"lab / inside: {p50 / statistics.median(inside):.2f}x; lab p50 {p50:.1f} ms "
          f"{'meets' if p50 <= TARGET_MS else 'misses'} the {TARGET_MS:g} ms target")
    return 0


if __name__ == "__main__":
    sys.exit(main())

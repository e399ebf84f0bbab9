"""The server under abuse, on loopback only: `mnistlab serve` trains from the page while 64 event
streams of that job are opened and never read, and gets a bounded mix of hostile requests 16 at a
time (maximal images, forged headers, cross-site and rebinding requests, cross-site heavy GETs,
malformed and oversized bodies, 300 MB /api/train bodies, clients that leave mid-body, concurrent
/api/inside) while slow clients trickle bodies and hold connections, and a good client sends one
drawing at a time throughout. It prints the requests sent by kind, the statuses seen, the number of
500s (must be 0), the /api/inside answers that differ from the same drawing sent alone (must be 0),
what the never-read streams got and whether /api/info and Stop still answer, the server's memory
before, at peak and after, and p50/p99 of the good requests during the abuse. Stops by itself after
--requests hostile requests or --seconds, whichever comes first.

    python benchmarks/web_abuse.py [--runs runs] [--requests 1000] [--slow 140] [--seconds 120]"""

import argparse
import base64
import io
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from web_latency import canvas_pngs, ensure_runs, serving_copy

CONCURRENCY = 16


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def stroke(width: int, height: int, mode: str) -> Image.Image:
    image = Image.new(mode, (width, height))
    image.paste((255,) * len(mode), (width // 3, height // 4, width // 2, 3 * height // 4))
    return image


def hostile_kinds(port: int) -> dict:
    """kind → (headers, body) of one hostile request; None as body: a client that leaves mid-body."""
    forged = bytearray(encoded(Image.new("L", (16, 16), 255), "JPEG"))
    struct.pack_into(">HH", forged, forged.find(b"\xff\xc0") + 5, 256, 65500)  # claims 65500×256
    png, small = {"Content-Type": "image/png"}, encoded(stroke(56, 56, "L"), "PNG")
    return {
        "4096x4096 RGBA PNG": (png, encoded(stroke(4096, 4096, "RGBA"), "PNG")),
        "2048x1024 RGBA PNG": (png, encoded(stroke(2048, 1024, "RGBA"), "PNG")),
        "8192x4096 JPEG": ({"Content-Type": "image/jpeg"}, encoded(stroke(8192, 4096, "RGB"), "JPEG")),
        "forged JPEG header": ({"Content-Type": "image/jpeg"}, bytes(forged)),
        "cross-origin POST": ({**png, "Origin": "https://evil.example"}, small),
        "null-origin data URL": ({"Content-Type": "text/plain", "Origin": "null"},
                                 b"data:image/png;base64," + base64.b64encode(small)),
        "rebinding Host": ({**png, "Host": f"evil.example:{port}"}, small),
        "malformed JSON": ({"Content-Type": "application/json"}, b'{"pixels": [' + b"[" * 50_000),
        "4,301-digit number": ({"Content-Type": "application/json"}, b'{"pixels": [' + b"9" * 4301 + b"]}"),
        "2 MB body": (png, b"\0" * (2 << 20)),
        "leaves mid-body": (png, None),
        "300 MB /api/train body": ({}, huge_train_body),
        "cross-site GET weights": ({"Sec-Fetch-Site": "cross-site"}, "GET /api/weights/mlp/fc1"),
        "foreign-Origin GET": ({"Origin": "https://evil.example"}, "GET /api/architecture"),
        "concurrent /api/inside": (png, ("inside", small)),
    }


def huge_train_body(port: int) -> int:
    """A 300 MB /api/train body, as a client would send it; the status the server answers with."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/train HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 300000000\r\n\r\n")
        try:
            for _ in range(64):  # up to 4 MB of it, or until the server answers and closes
                sock.sendall(b" " * 65536)
        except OSError:
            pass
        return int(sock.recv(12).split()[1])


def open_streams(port: int, path: str, count: int) -> tuple[list[socket.socket], Counter]:
    """`count` connections asking for `path` (an event stream) and never reading it; their statuses."""
    socks, statuses = [], Counter()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        socks.append(sock)
    for sock in socks:
        try:
            statuses[int(sock.recv(12).split()[1])] += 1
        except (OSError, IndexError, ValueError) as err:
            statuses[type(err).__name__] += 1
    return socks, statuses


def leave_mid_body(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
    return "left"


def slow_clients(port: int, count: int, stop: threading.Event, outcome: Counter) -> None:
    """`count` connections trickling a body one byte a second until the server drops them or the run ends."""
    socks = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 100000\r\n\r\n")
            sock.setblocking(False)
            socks.append(sock)
        except OSError:
            outcome["refused at connect"] += 1
    while socks and not stop.is_set():
        for sock in list(socks):
            try:
                sock.send(b"x")
                if sock.recv(1) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                continue
            except OSError:
                outcome["dropped by the server"] += 1
                socks.remove(sock)
                sock.close()
        stop.wait(1.0)
    outcome["still open at the end"] += len(socks)
    for sock in socks:
        sock.close()


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--requests", type=int, default=1000, help="hostile requests in all (default: 1000)")
    parser.add_argument("--slow", type=int, default=140, help="slow clients trickling bodies (default: 140)")
    parser.add_argument("--seconds", type=float, default=120, help="stop after this long at most (default: 120)")
    args = parser.parse_args()

    served = serving_copy(ensure_runs(args.runs))
    log = Path(tempfile.mkdtemp(prefix="mnistlab-abuse-")) / "server-stderr.txt"
    with open(log, "w") as stderr:
        server = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--host", "127.0.0.1", "--port", "0",
                                   "--runs", str(served)], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        url = re.search(r"http://\S+/", server.stdout.readline()).group(0)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        good = canvas_pngs(50)
        for png in good[:5]:  # warm up the thread pool and PyTorch
            httpx.post(url + "api/predict", content=png, headers={"Content-Type": "image/png"})
        before = rss_mb(server.pid)
        peak, stop, deadline = [before], threading.Event(), time.monotonic() + args.seconds

        def watch():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.01)

        good_ms, good_statuses = [], Counter()

        def good_client():
            with httpx.Client(timeout=30) as client:
                i = 0
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        status = client.post(url + "api/predict", content=good[i % len(good)],
                                             headers={"Content-Type": "image/png"}).status_code
                    except httpx.HTTPError as err:
                        status = type(err).__name__
                    good_ms.append((time.perf_counter() - started) * 1000)
                    good_statuses[status] += 1
                    i += 1

        kinds = hostile_kinds(port)
        names = list(kinds)
        sent, statuses, counting, wrong = Counter(), Counter(), threading.Lock(), [0]
        alone = httpx.post(url + "api/inside", content=kinds["concurrent /api/inside"][1][1],
                           headers={"Content-Type": "image/png"}).json()
        job = httpx.post(url + "api/train", json={"model": "mlp", "max_steps": 1_000_000}, timeout=30).json()
        streams, stream_statuses = open_streams(port, job["events"], 64)
        asked = time.perf_counter()
        info_status = httpx.get(url + "api/info", timeout=30).status_code
        info_ms = (time.perf_counter() - asked) * 1000

        def hostile(i):
            if time.monotonic() > deadline:
                return
            name = names[i % len(names)]
            headers, body = kinds[name]
            try:
                if body is None:
                    status = leave_mid_body(port)
                elif callable(body):
                    status = body(port)
                elif isinstance(body, str):  # "GET /path"
                    status = httpx.get(url + body.split(" ", 1)[1][1:], headers=headers, timeout=30).status_code
                elif isinstance(body, tuple):  # (route, png): the answer must be the one it gets alone
                    response = httpx.post(url + f"api/{body[0]}", content=body[1], headers=headers, timeout=30)
                    status = response.status_code
                    if status == 200 and response.json() != alone:
                        with counting:
                            wrong[0] += 1
                else:
                    status = httpx.post(url + "api/predict", content=body, headers=headers, timeout=30).status_code
            except (httpx.HTTPError, OSError) as err:
                status = type(err).__name__
            with counting:
                sent[name] += 1
                statuses[status] += 1

        slow_outcome = Counter()
        threads = [threading.Thread(target=watch), threading.Thread(target=good_client),
                   threading.Thread(target=slow_clients, args=(port, args.slow, stop, slow_outcome))]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(hostile, range(args.requests)))
        time.sleep(max(0.0, min(12.0, deadline - time.monotonic())))  # the slow clients' read deadline (10 s)
        abuse_seconds = time.monotonic() - started
        stop.set()
        for thread in threads:
            thread.join()
        asked = time.perf_counter()
        stop_status = httpx.delete(url + f"api/train/{job['id']}", timeout=30).status_code
        stop_ms = (time.perf_counter() - asked) * 1000
        for sock in streams:
            sock.close()
        time.sleep(2)
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"{sum(sent.values())} hostile requests, {CONCURRENCY} at a time, in {abuse_seconds:.1f} s, "
          f"with {args.slow} slow clients and one good client throughout (loopback, 127.0.0.1)")
    for name in names:
        print(f"  {name:<22} {sent[name]:>5}")
    print("statuses of the hostile requests: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    print("slow clients: " + ", ".join(f"{k} {v}" for k, v in slow_outcome.items()))
    print("64 event streams never read: " + ", ".join(f"{k}: {v}" for k, v in sorted(stream_statuses.items(), key=str))
          + f"; then /api/info {info_status} in {info_ms:.0f} ms, Stop (DELETE) {stop_status} in {stop_ms:.0f} ms")
    five_hundreds = statuses[500] + good_statuses[500]
    print(f"500s: {five_hundreds}")
    print(f"/api/inside answers that differ from the same drawing sent alone: {wrong[0]}")
    print(f"server RSS: {before:.0f} MB before, {peak[0]:.0f} MB at peak (+{peak[0] - before:.0f}), {after:.0f} MB after")
    ms = sorted(good_ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"good requests during the abuse: {len(ms)}, statuses "
          + ", ".join(f"{k}: {v}" for k, v in good_statuses.items())
          + f"; p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms")
    lines = log.read_text().splitlines()
    print(f"server log: {len(lines)} lines, {sum('Traceback' in line for line in lines)} tracebacks")
    if five_hundreds or wrong[0]:
        sys.exit("FAIL: the server answered 500, or an /api/inside answer differed from its answer alone")


if __name__ == "__main__":
    main()

"""The server under abuse: requests from other sites and other host names are refused with JSON,
slow and idle clients are dropped, connections are capped, clients that leave mid-body cost one
log line, and 16 concurrent maximal images keep the server's memory growth under 300 MB."""

import base64
import io
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mnistlab.nets.models import create_model
from mnistlab.web import server
from mnistlab.web.app import create_app
from mnistlab.web.server import running

PNG = "image/png"


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def digit(width: int, height: int, mode: str = "L") -> Image.Image:
    image = Image.new(mode, (width, height))
    image.paste((255,) * len(mode), (width // 3, height // 4, width // 2, 3 * height // 4))
    return image


@pytest.fixture(scope="module")
def app():
    return create_app(models={name: create_model(name) for name in ("mlp", "cnn")})


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def small_png():
    return encoded(digit(56, 56), "PNG")


@pytest.mark.parametrize("headers, status, fragment", [
    ({"Origin": "https://evil.example"}, 403, "another origin (https://evil.example)"),
    ({"Origin": "null"}, 403, "another origin (null)"),  # a page from a data: URL or a sandbox
    ({"Origin": "http://testserver:8080"}, 403, "another origin"),
    ({"Sec-Fetch-Site": "cross-site"}, 403, "another site"),
    ({"Host": "evil.example"}, 400, "Host header 'evil.example' does not name this server"),
    ({"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}, 400, "does not name this server"),
])
def test_cross_site_and_rebound_requests_are_refused_with_json(client, small_png, headers, status, fragment):
    for content_type, body in [(PNG, small_png), ("text/plain", "data:image/png;base64," +
                                                  base64.b64encode(small_png).decode())]:
        response = client.post("/api/predict", content=body, headers={"Content-Type": content_type, **headers})
        assert response.status_code == status
        assert fragment in response.json()["error"]


def test_rebound_host_cannot_read_either(client):
    assert client.get("/api/info", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/info").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"},
                                     {"Host": "localhost:8000", "Origin": "http://localhost:8000"}])
def test_the_page_itself_and_scripts_are_answered(client, small_png, headers):
    response = client.post("/api/predict", content=small_png, headers={"Content-Type": PNG, **headers})
    assert response.status_code == 200, response.text


def test_a_real_server_accepts_its_own_origin_only(app, small_png):
    with running(app) as url:
        own = url.rstrip("/")
        ok = httpx.post(url + "api/predict", content=small_png, headers={"Content-Type": PNG, "Origin": own})
        bad = httpx.post(url + "api/predict", content=small_png,
                         headers={"Content-Type": PNG, "Origin": own.replace("127.0.0.1", "localhost")})
    assert ok.status_code == 200 and bad.status_code == 403


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

@pytest.mark.slow
def test_slow_and_idle_clients_are_dropped_and_connections_capped(app, small_png, monkeypatch):
    monkeypatch.setattr(server, "READ_TIMEOUT", 1.0)
    monkeypatch.setattr(server, "MAX_CONNECTIONS", 6)
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        trickle = socket.create_connection(("127.0.0.1", port))
        trickle.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                        b"Content-Length: 5000\r\n\r\n" + small_png[:10])
        half_headers = socket.create_connection(("127.0.0.1", port))
        half_headers.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert closed_by_server(trickle, 3) and closed_by_server(half_headers, 3)

        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
        time.sleep(0.2)
        answer = httpx.post(url + "api/predict", content=small_png, headers={"Content-Type": PNG})
        assert answer.status_code == 200  # a good request gets through while the idle ones wait
        assert sum(closed_by_server(s, 0.2) for s in idle[:6]) == 6  # the longest-waiting are dropped
        for sock in [trickle, half_headers, *idle]:
            sock.close()


@pytest.fixture(scope="module")
def served(fake_runs_module, tmp_path_factory):
    """`mnistlab serve` as its own process (its memory measured alone), with its stderr in a file."""
    log = tmp_path_factory.mktemp("serve") / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--port", "0", "--runs",
                                    str(fake_runs_module)], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+/", line).group(0)
        yield process, url, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def maximal_requests() -> list[tuple[str, bytes]]:
    """The costliest bodies under the 1 MB limit: the issue's 4096×4096 RGBA PNG, the largest PNG
    accepted (RGBA, 2048×1024), a JPEG reduced while decoding (8192×4096), and a forged JPEG header."""
    forged = bytearray(encoded(Image.new("L", (16, 16), 255), "JPEG"))
    struct.pack_into(">HH", forged, forged.find(b"\xff\xc0") + 5, 256, 65500)
    bodies = [(PNG, encoded(digit(4096, 4096, "RGBA"), "PNG")),
              (PNG, encoded(digit(2048, 1024, "RGBA"), "PNG")),
              ("image/jpeg", encoded(digit(8192, 4096, "RGB"), "JPEG")),
              ("image/jpeg", bytes(forged))]
    assert all(len(body) < 1 << 20 for _, body in bodies)
    return bodies

@pytest.mark.slow
def test_16_concurrent_maximal_requests_keep_memory_growth_under_300_mb(served):
    process, url, _ = served
    bodies = maximal_requests()
    small = encoded(digit(56, 56), "PNG")
    for _ in range(3):  # the first requests start the thread pool and its PyTorch state
        assert httpx.post(url + "api/predict", content=small, headers={"Content-Type": PNG}).status_code == 200
    before = rss_mb(process.pid)
    peak, done = [before], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(process.pid))
            time.sleep(0.005)

    def send(i):
        content_type, body = bodies[i % len(bodies)]
        statuses.append(httpx.post(url + "api/predict", content=body, timeout=60,
                                   headers={"Content-Type": content_type}).status_code)

    statuses = []
    watcher = threading.Thread(target=watch)
    watcher.start()
    senders = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    done.set()
    watcher.join()
    print(f"server RSS {before:.0f} MB before, {peak[0]:.0f} MB at peak; statuses {sorted(statuses)}")
    assert len(statuses) == 16 and 500 not in statuses
    assert statuses.count(400) == 4  # the 4096×4096 PNG: over the pixel cap
    assert peak[0] - before < 300

@pytest.mark.slow
def test_a_client_leaving_mid_body_costs_one_short_line(served):
    process, url, log = served
    port = int(url.rsplit(":", 1)[1].strip("/"))
    before = log.read_text()
    for i in range(20):  # /api/train too: it logged a 65-line ClientDisconnect traceback
        route, content_type = ("/api/predict", b"image/png") if i % 2 else ("/api/train", b"application/json")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST " + route.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type +
                         b"\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.02)
    time.sleep(1)
    assert httpx.get(url + "api/info").status_code == 200  # still serving
    added = log.read_text()[len(before):].splitlines()
    assert "Traceback" not in "\n".join(added)
    assert 1 <= len(added) <= 20 and all("left before sending its whole request" in line for line in added)


def test_running_out_of_file_descriptors_is_logged_once_in_a_while(caplog):
    class Loop:
        def default_exception_handler(self, context):
            raise AssertionError("not ours to swallow")

    handler = server.ResourceLog()
    error = OSError(24, "Too many open files")
    with caplog.at_level("WARNING", logger="mnistlab.web"):
        for _ in range(1000):
            handler(Loop(), {"message": "socket.accept() out of system resource", "exception": error})
    assert [r.getMessage() for r in caplog.records] == ["cannot accept a connection: [Errno 24] Too many open files"]
    with pytest.raises(AssertionError, match="not ours"):
        handler(Loop(), {"message": "Task exception was never retrieved"})

@pytest.mark.slow
def test_more_idle_clients_than_file_descriptors_never_starve_a_good_request(fake_runs_module, tmp_path):
    """The issue's case: 140 idle connections against a server allowed 128 file descriptors."""
    import resource

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--port", "0", "--runs",
                                    str(fake_runs_module)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   preexec_fn=few_descriptors)
    idle = []
    try:
        url = re.search(r"http://\S+/", process.stdout.readline()).group(0)
        port = int(url.rsplit(":", 1)[1].strip("/"))
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(140)]
        time.sleep(0.5)
        assert httpx.get(url + "api/info", timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        process.wait(timeout=20)
    assert "Too many open files" not in log.read_text() and "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def started(app):
    """A client of an app whose lifespan runs (its trainer answers /api/train)."""
    with TestClient(create_app(models={name: create_model(name) for name in ("mlp", "cnn")})) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/weights/mlp/fc1", "/api/weights/cnn/conv1?encoding=base64",
                                  "/api/architecture", "/api/info", "/api/train", "/api/strings"])
def test_cross_site_callers_of_heavy_gets_are_refused(started, path):
    client = started
    """Any page could fire 40 <img src=/api/weights/mlp/fc1> at the local server (8.5 MB of JSON each)."""
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://evil.example"}):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 403 and "another" in refused.json()["error"], (path, headers)
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        assert client.get(path, headers=headers).status_code == 200, (path, headers)
    assert client.get("/static/main.js", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # files stay open


def test_weights_also_come_as_compact_float32(client):
    import numpy as np

    plain = client.get("/api/weights/mlp/fc1")
    packed = client.get("/api/weights/mlp/fc1?encoding=base64")
    assert packed.json()["dtype"] == "float32" and packed.json()["shape"] == plain.json()["shape"] == [512, 784]
    values = np.frombuffer(base64.b64decode(packed.json()["data"]), "<f4")
    np.testing.assert_array_equal(values, np.array(plain.json()["values"], np.float32))
    assert len(packed.content) < len(plain.content) / 2
    assert client.get("/api/weights/mlp/fc1?encoding=png").status_code == 400


@pytest.mark.parametrize("path", ["/api/train", "/api/predict", "/api/inside"])
def test_one_body_limit_for_every_route(started, path):
    client = started
    declared = client.post(path, content=b"{" + b" " * (1 << 20) + b"}", headers={"Content-Type": "application/json"})
    chunked = client.post(path, content=(b" " * 65536 for _ in range(17)), headers={"Content-Type": "application/json"})
    for response in (declared, chunked):
        assert response.status_code == 413 and "at most 1,048,576" in response.json()["error"], path


def test_a_big_training_body_is_refused_before_it_is_read(app):
    """A Content-Length of 300 MB is answered at once, without waiting for (or holding) the body."""
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /api/train HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 300000000\r\n\r\n{")
            answer = b""
            while b"}" not in answer:  # the whole JSON answer, however the server splits it
                answer += sock.recv(4096) or b"}"
    assert answer.startswith(b"HTTP/1.1 413") and b"at most 1,048,576" in answer


def test_uvicorns_internals_that_the_limits_use_are_there():
    """server.LimitedProtocol subclasses uvicorn's private H11Protocol (pyproject pins the tested range)."""
    import inspect

    from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

    for name in ("connection_made", "data_received", "on_response_complete", "connection_lost", "shutdown"):
        assert callable(getattr(H11Protocol, name)), name
    source = inspect.getsource(H11Protocol)
    for attribute in ("self.conn", "self.cycle", "self.transport", "self.connections", "self.loop"):
        assert attribute in source, attribute
    cycle = inspect.getsource(RequestResponseCycle)
    assert "self.response_started" in cycle and "self.response_complete" in cycle


@pytest.mark.slow
def test_concurrent_inside_and_predict_answers_are_those_of_each_image_alone(app):
    """Inside views computed with hooks on the shared network recorded each other's layers."""
    import numpy as np

    rng = np.random.default_rng(0)
    images = []
    for i in range(6):
        array = np.zeros((56, 56), np.uint8)
        array[rng.integers(4, 20):rng.integers(36, 52), rng.integers(4, 20):rng.integers(36, 52)] = 255
        array[rng.integers(10, 40), :] = 255 * (i % 2)
        images.append(encoded(Image.fromarray(array), "PNG"))
    with running(app) as url:
        def ask(route, png):
            response = httpx.post(url + f"api/{route}", content=png, headers={"Content-Type": PNG}, timeout=60)
            assert response.status_code == 200, response.text
            return response.json()

        alone = {(route, i): ask(route, png) for route in ("inside", "predict") for i, png in enumerate(images)}
        asked = [(route, i) for _ in range(3) for route in ("inside", "predict") for i in range(len(images))]
        results = {}

        def send(index):
            results[index] = ask(*asked[index][:1], images[asked[index][1]])

        threads = [threading.Thread(target=send, args=(index,)) for index in range(len(asked))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(results) == len(asked)
    for index, key in enumerate(asked):
        answer, expected = results[index], alone[key]
        assert answer["input"] == expected["input"]
        nets = answer["networks"] if key[0] == "inside" else answer
        expected_nets = expected["networks"] if key[0] == "inside" else expected
        for name in ("mlp", "cnn"):
            got, want = nets[name], expected_nets[name]
            assert got["digit"] == want["digit"]
            np.testing.assert_allclose(got["probabilities"], want["probabilities"], atol=1e-6)
            if key[0] == "inside":
                assert [layer["name"] for layer in got["layers"]] == [layer["name"] for layer in want["layers"]]
                for layer, reference in zip(got["layers"], want["layers"]):
                    np.testing.assert_allclose(layer["values"], reference["values"], atol=2e-4)
    for i in range(len(images)):  # and the inside view's answers are /api/predict's
        for name in ("mlp", "cnn"):
            inside, predicted = alone[("inside", i)]["networks"][name], alone[("predict", i)][name]
            assert inside["digit"] == predicted["digit"] and inside["confidence"] == pytest.approx(predicted["confidence"])


def status_of(sock: socket.socket) -> int:
    sock.settimeout(10)
    return int(sock.recv(12).split()[1])


@pytest.mark.slow
def test_event_streams_nobody_reads_leave_room_for_short_requests(tmp_path):
    """64 streams, never read, filled the connection cap: the page's /api/info and Stop were reset."""
    from helpers import stub_job
    from mnistlab.web import training

    app = create_app(models={name: create_model(name) for name in ("mlp", "cnn")}, runs_dir=tmp_path)
    socks, stubs = [], []
    with running(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        stubs = [stub_job(app.state.jobs, f"stub{i}", [("start", {"total_steps": 10})]) for i in range(5)]
        for i in range(64):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(f"GET /api/train/stub{i % 5}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            socks.append((i % 5, sock))
        statuses = [(job, status_of(sock)) for job, sock in socks]
        accepted = [job for job, status in statuses if status == 200]
        assert len(accepted) == training.MAX_STREAMS and {s for _, s in statuses} == {200, 429}
        assert max(accepted.count(job) for job in range(5)) <= training.STREAMS_PER_JOB
        assert httpx.get(url + "api/info", timeout=10).status_code == 200
        stop = httpx.delete(url + "api/train/stub0", timeout=10)
        assert stop.status_code == 200 and stop.json()["id"] == "stub0"
        asked_to_stop = time.monotonic()
    assert time.monotonic() - asked_to_stop < 8  # the server stops with 16 streams open and unread
    for _, sock in socks:
        sock.close()
    for job in stubs:
        job.process.kill()
        job.process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("watched", [True, False])
def test_sigterm_during_a_training_stops_it_ends_streams_and_leaves_nothing(fake_runs_module, tmp_path, mnist_root,
                                                                           watched):
    import json
    import os
    import shutil
    import signal

    runs = tmp_path / "runs"
    shutil.copytree(fake_runs_module, runs)
    before = sorted(p.name for p in runs.iterdir())
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mnistlab", "serve", "--port", "0", "--runs", str(runs),
                                    "--data-dir", str(mnist_root)], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        url = re.search(r"http://\S+/", process.stdout.readline()).group(0)
        job = httpx.post(url + "api/train", json={"model": "mlp", "epochs": 1}, timeout=30).json()
        assert "/" not in job["run"]  # relative to the runs folder
        lines = []
        if watched:
            stream = httpx.stream("GET", url + job["events"][1:], timeout=120)
            response = stream.__enter__()

            def read():
                try:
                    lines.extend(response.iter_lines())
                except httpx.HTTPError:  # cut off as the server stops: what a watching page sees too
                    lines.append("(cut)")

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
        deadline = time.monotonic() + 180
        while not list(runs.glob(f".{job['run']}.*.tmp")):  # the child's train_run is writing its staging folder
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.2)
        owners = json.loads((runs / f".{job['run']}.tmp" / "owner.json").read_text())["owners"]
        child = owners[1]["pid"]
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        took = time.monotonic() - asked
        if watched:
            reader.join(timeout=10)
            assert not reader.is_alive()  # the stream ended
            stream.__exit__(None, None, None)
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 6, took
    assert not Path(f"/proc/{child}").exists() or "State:\tZ" in Path(f"/proc/{child}/status").read_text()
    assert sorted(p.name for p in runs.iterdir()) == before  # no staging, claim or half run left
    assert "Traceback" not in log.read_text(), log.read_text()

"""The sandbox's promises, each shown by a probe that does reach, see or write the thing when run
without the sandbox (so the test would fail if the sandbox stopped working), and the verdicts the
hostile submissions of the corpus get."""

import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from mnistlab.check.sandbox import run_sandboxed

PROBE_TIMEOUT = 20  # seconds: each probe is a few lines of plain Python


def probe(tmp_path, code: str, sandbox: bool, timeout_s: float = PROBE_TIMEOUT, memory_mb: int = 1024, **kw):
    """Run `code` (plain Python, no torch) as a submission would run, in a fresh work folder."""
    work = tmp_path / f"work-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    os.chmod(work, 0o777)
    return run_sandboxed([sys.executable, "-I", "-c", textwrap.dedent(code)], workdir=work, data_dir=None,
                         timeout_s=timeout_s, memory_mb=memory_mb, sandbox=sandbox, **kw)


NETWORK_PROBE = """
    import socket, sys
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
        print("connected")
    except OSError as err:
        print("blocked", err)
"""


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_no_network_not_even_loopback(tmp_path, listener, sandbox):
    port, reached = listener
    result = probe(tmp_path, NETWORK_PROBE.format(port=port), sandbox)
    if sandbox:
        assert result.sandboxed and result.stdout.startswith("blocked")
        assert not reached.wait(0.5)
    else:  # the probe is a real connection: without the sandbox it gets through
        assert result.stdout.startswith("connected") and reached.wait(2)


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_writes_to_home_and_tmp_stay_private(tmp_path, sandbox):
    home = Path(os.environ["HOME"])  # the grader's (conftest points it at a temporary folder)
    home.mkdir(parents=True, exist_ok=True)
    name = f"mnistlab-probe-{uuid.uuid4().hex}"
    code = f"""
        import os
        for folder in (os.path.expanduser("~"), {str(home)!r}, "/tmp"):
            try:
                with open(os.path.join(folder, {name!r}), "w") as f:
                    f.write("left behind")
            except OSError as err:
                print("refused", folder, err)
    """
    probe(tmp_path, code, sandbox)
    left = [p for p in (home / name, Path("/tmp") / name) if p.exists()]
    if sandbox:
        assert left == []
    else:
        assert left == [home / name, Path("/tmp") / name]
    for path in left:
        path.unlink()


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_a_sibling_submission_and_the_graders_files_are_out_of_sight(tmp_path, sandbox):
    sibling = tmp_path / "other-student" / "practica2.ipynb"
    sibling.parent.mkdir()
    sibling.write_text("the other student's answers")
    verdicts = tmp_path / "out" / "results.json"
    verdicts.parent.mkdir()
    verdicts.write_text('[{"points": 10}]')
    code = f"""
        for path in ({str(sibling)!r}, {str(verdicts)!r}):
            try:
                print("read", open(path).read())
            except OSError as err:
                print("hidden", type(err).__name__)
    """
    result = probe(tmp_path, code, sandbox)
    if sandbox:
        assert "the other student's answers" not in result.stdout and "points" not in result.stdout
        assert result.stdout.count("hidden") == 2
    else:
        assert "read the other student's answers" in result.stdout and '"points": 10' in result.stdout


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_the_graders_processes_are_out_of_sight(tmp_path, sandbox):
    code = f"""
        import os
        try:
            print("seen", open("/proc/{os.getpid()}/cmdline").read()[:40])
        except OSError:
            print("unseen")
    """
    result = probe(tmp_path, code, sandbox)
    assert result.stdout.startswith("unseen" if sandbox else "seen")


FORK_PROBE = """
    import os, time
    started = 0
    for _ in range({n}):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
    print("started", started, flush=True)
"""


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
def test_a_fork_bomb_is_capped_and_cleaned_up(tmp_path, sandbox):
    wanted = 150  # bounded, so the unsandboxed run does not hurt the machine
    result = probe(tmp_path, FORK_PROBE.format(n=wanted), sandbox, timeout_s=15)
    started = int(result.stdout.split()[1])
    if sandbox:
        assert started < wanted  # the process limit stopped it
    else:
        assert started == wanted
    # nothing it started is still running: the whole process group was killed
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(sys.executable + "\0-I\0-c")
                 and "os.fork()" in _cmdline(p)]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_an_endless_loop_is_killed_at_the_timeout(tmp_path):
    result = probe(tmp_path, "while True:\n    pass\n", sandbox=True, timeout_s=2)
    assert result.timed_out and result.returncode is None
    assert result.seconds < 10


def test_a_memory_hog_is_stopped_by_the_limit(tmp_path):
    code = """
        try:
            hog = bytearray(2 * 1024**3)
            print("allocated", len(hog))
        except MemoryError:
            print("refused")
    """
    result = probe(tmp_path, code, sandbox=True, memory_mb=512)
    assert result.stdout.startswith("refused")

"""Running untrusted code (a student's notebook) in Debian's bubblewrap: no network, private /tmp and
$HOME, the system and the venv read-only, MNIST read-only at ./data, resource limits and a wall clock
that kills the whole process group. Without bwrap, the same limits in a plain subprocess (no isolation)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import mnistlab

SANDBOX_UID = 65534  # nobody: when the grader runs as root, the student's code does not
INSIDE_WORKDIR = "/submission"  # the notebook's working folder inside the sandbox (its ./data is MNIST)
INSIDE_HOME = "/home/student"
OUTPUT_CAP = 64 * 1024  # bytes of stdout/stderr kept
EXTRA_PROCESSES = 64  # processes and threads the sandboxed code may add to what its user already runs


@dataclass
class SandboxResult:
    returncode: int | None  # None: killed at the wall-clock timeout
    timed_out: bool
    seconds: float
    stdout: str
    stderr: str
    sandboxed: bool  # False: bwrap was missing and the code ran in a plain subprocess
    notes: list[str] = field(default_factory=list)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def python_paths() -> list[str]:
    """What the sandboxed interpreter needs, read-only: the venv, the base Python, and mnistlab's folder."""
    paths = [sys.prefix, sys.base_prefix, str(Path(mnistlab.__file__).resolve().parent.parent)]
    real = os.path.realpath(sys.executable)
    if not real.startswith(("/usr/", sys.base_prefix)):
        paths.append(str(Path(real).parent.parent))
    return list(dict.fromkeys(p for p in paths if not p.startswith("/usr")))


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def inside_path(preferred: str, also: list[Path] = ()) -> str:
    """`preferred`, or `preferred-2`, `-3`...: the first sandbox folder that neither holds nor lies in a
    host folder the sandbox mounts at its own path (the venv, the base Python, mnistlab's source, `also`),
    so that mounting it never hides them (a CI that clones the project into /check/... would otherwise
    lose its venv under the checker's /check)."""
    host = [*python_paths(), *(str(Path(p).resolve()) for p in also)]
    candidate, n = preferred, 1
    while any(_overlaps(candidate, h) for h in host):
        n += 1
        candidate = f"{preferred}-{n}"
    return candidate


def bwrap_argv(argv: list[str], workdir: Path, data_dir: Path | None, read_only: list[Path],
               writable: dict[str, Path], env: dict[str, str], as_nobody: bool) -> list[str]:
    inside_workdir, inside_home = inside_path(INSIDE_WORKDIR, read_only), env["HOME"]
    clash = [dest for dest in [*writable, inside_home, inside_workdir]
             if any(_overlaps(dest, h) for h in [*python_paths(), *(str(Path(p).resolve()) for p in read_only)])]
    if clash:  # a caller's own choice of folder; inside_path() gives one that is clear
        raise ValueError(f"sandbox folder {clash[0]} would hide a folder the sandbox needs: use inside_path()")
    binds: list[tuple[str, str, str]] = [("--ro-bind", p, p) for p in python_paths()]
    binds += [("--bind", str(Path(outside).resolve()), inside) for inside, outside in writable.items()]
    binds += [("--ro-bind", str(Path(p).resolve()), str(Path(p).resolve())) for p in read_only]
    binds.append(("--bind", str(workdir), inside_workdir))
    if data_dir is not None:
        binds.append(("--ro-bind", str(Path(data_dir).resolve()), inside_workdir + "/data"))
    cmd = [bwrap_path(), "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session",
           "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
           "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/home",
           "--tmpfs", "/root", "--perms", "0777", "--tmpfs", inside_home]
    for name in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink("/" + name):
            cmd += ["--symlink", os.readlink("/" + name), "/" + name]
    made = {"/tmp", "/home", "/root", "/usr", "/etc"}
    for kind, source, dest in binds:
        for parent in _ancestors(dest):
            if parent not in made:  # bwrap would make missing parents 0700, unreadable to nobody
                cmd += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        cmd += [kind, source, dest]
        made.add(dest)
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", inside_workdir]
    if as_nobody:
        cmd += ["/usr/bin/setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
    return cmd + argv


def _limits(cpu_s: int, memory_mb: int, file_mb: int, processes: int | None):
    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    return apply


def _processes_of(uid: int) -> int:
    """Threads `uid` runs now (RLIMIT_NPROC counts threads, and counts them per user)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    status = Path(f"/proc/{entry}/status").read_text()
                    count += int(status.split("Threads:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                pass
    return count


def run_sandboxed(argv: list[str], *, workdir: Path, data_dir: Path | None, timeout_s: float = 120,
                  memory_mb: int = 6144, file_mb: int = 64, read_only: list[Path] = (),
                  writable: dict[str, Path] | None = None, env: dict[str, str] | None = None,
                  sandbox: bool = True) -> SandboxResult:
    """Run `argv` with `workdir` as its writable working folder and `data_dir` read-only at ./data;
    `writable` maps more folders in: {path inside: folder outside} (without bwrap: the same path).

    `memory_mb` limits the address space (torch alone maps about 3.5 GB of it); the CPU-time limit is
    the timeout; past `timeout_s` of wall clock the whole process group is killed."""
    workdir = Path(workdir)
    notes = []
    use_bwrap = sandbox and bwrap_path() is not None
    if sandbox and not use_bwrap:
        notes.append("bwrap (Debian's bubblewrap) is missing: the notebook ran without a sandbox")
    as_nobody = use_bwrap and os.getuid() == 0
    inside_env = {"PATH": "/usr/bin:/bin", "HOME": inside_path(INSIDE_HOME, list(read_only)), "LANG": "C.UTF-8",
                  "MPLBACKEND": "Agg",
                  "MPLCONFIGDIR": "/tmp/matplotlib", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(Path(mnistlab.__file__).resolve().parent.parent),
                  "TMPDIR": "/tmp", **(env or {})}
    if use_bwrap:
        if as_nobody:
            for folder in [workdir, *(writable or {}).values()]:
                os.chown(folder, SANDBOX_UID, SANDBOX_UID)
            processes = _processes_of(SANDBOX_UID) + EXTRA_PROCESSES
        else:
            processes = _processes_of(os.getuid()) + EXTRA_PROCESSES
        cmd = bwrap_argv(argv, workdir, data_dir, list(read_only), writable or {}, inside_env, as_nobody)
        cwd, run_env = "/", {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        home = workdir.parent / (workdir.name + "-home")
        home.mkdir(exist_ok=True)
        if data_dir is not None and not (workdir / "data").exists():
            (workdir / "data").symlink_to(Path(data_dir).resolve())
        cmd, cwd = argv, str(workdir)
        run_env = {**inside_env, "HOME": str(home), "MPLCONFIGDIR": str(home / ".matplotlib"), "TMPDIR": str(home)}
        processes = None  # no per-user count to rely on without a pid namespace
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=run_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_limits(int(timeout_s) + 1, memory_mb, file_mb, processes))
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:  # whatever it left running in its group goes too
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return SandboxResult(None if timed_out else proc.returncode, timed_out, time.monotonic() - started,
                         out[-OUTPUT_CAP:].decode("utf-8", "replace"), err[-OUTPUT_CAP:].decode("utf-8", "replace"),
                         use_bwrap, notes)

"""How OpenMP's worker threads wait, chosen once for every mnistlab process (the CLI, the studio's
trainer, the benchmarks) before torch loads libgomp. Measured in docs/performance.md: spinning
(libgomp's default) is fastest on an idle machine, and many times slower on one whose cores are
already busy, where a spinning thread holds a core that a descheduled partner needs."""

from __future__ import annotations

import contextlib
import os

SPIN_ENV = "GOMP_SPINCOUNT"  # libgomp's spin count before a waiting thread sleeps (default 300,000)
USER_SETTINGS = (SPIN_ENV, "OMP_WAIT_POLICY")  # set by the user: theirs is kept
# Beside a GOMP_SPINCOUNT that mnistlab chose: a child process (the studio's trainer, a sandboxed
# notebook) inherits the environment, and decides afresh for the machine as it is when it starts.
CHOSEN_ENV = "MNISTLAB_CHOSE_GOMP_SPINCOUNT"


def busy(load: float | None = None, cores: int | None = None) -> bool:
    """Whether the machine's cores are taken already: a one-minute load average of at least one
    runnable process per core."""
    load = os.getloadavg()[0] if load is None else load
    return load >= (cores or os.cpu_count() or 1)


def choose_wait_policy(environ=None) -> str:
    """Sleep at once (GOMP_SPINCOUNT=0) on a busy machine, libgomp's default spinning otherwise; a
    policy the user set is left alone. Returns what is in effect, for logs. Only a process that has
    not loaded torch yet is affected."""
    environ = os.environ if environ is None else environ
    if environ.pop(CHOSEN_ENV, None) == environ.get(SPIN_ENV):  # a parent's choice, not the user's
        environ.pop(SPIN_ENV, None)
    if any(name in environ for name in USER_SETTINGS):
        return "as set: " + ", ".join(f"{n}={environ[n]}" for n in USER_SETTINGS if n in environ)
    try:
        loaded = busy()
    except OSError:  # no load average on this platform: the default
        loaded = False
    if loaded:
        environ[SPIN_ENV] = environ[CHOSEN_ENV] = "0"
        return f"{SPIN_ENV}=0 (busy machine)"
    return "OpenMP default (idle machine)"


@contextlib.contextmanager
def intra_op_threads(count: int):
    """torch's intra-op thread count set to `count` for the block (it is process-wide), then back."""
    import torch  # here, not at the top: this module is imported before torch loads

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)

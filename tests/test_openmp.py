"""OpenMP's waiting policy: chosen once, before torch loads, the same way for every mnistlab process."""

import subprocess
import sys

from mnistlab import openmp


def test_busy_machine_sleeps_at_once_idle_keeps_the_default_user_setting_wins(monkeypatch):
    assert openmp.busy(load=2.5, cores=2) and not openmp.busy(load=0.3, cores=2)
    monkeypatch.setattr(openmp, "busy", lambda: True)
    environ = {}
    assert openmp.choose_wait_policy(environ) == "GOMP_SPINCOUNT=0 (busy machine)"
    assert environ == {"GOMP_SPINCOUNT": "0", openmp.CHOSEN_ENV: "0"}
    monkeypatch.setattr(openmp, "busy", lambda: False)  # a child started once the machine is idle again
    assert openmp.choose_wait_policy(environ).startswith("OpenMP default") and environ == {}
    monkeypatch.setattr(openmp, "busy", lambda: False)
    environ = {}
    assert openmp.choose_wait_policy(environ).startswith("OpenMP default") and environ == {}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    monkeypatch.setattr(openmp, "busy", lambda: True)
    assert openmp.choose_wait_policy(environ) == "as set: OMP_WAIT_POLICY=ACTIVE" and "GOMP_SPINCOUNT" not in environ
    environ = {"GOMP_SPINCOUNT": "5000", openmp.CHOSEN_ENV: "0"}  # the user changed it since: theirs
    assert openmp.choose_wait_policy(environ) == "as set: GOMP_SPINCOUNT=5000" and environ == {"GOMP_SPINCOUNT": "5000"}


def test_the_policy_is_set_before_torch_is_imported():
    """Importing any mnistlab module (the CLI's entry, the trainer child's) chooses before torch loads."""
    code = ("import sys; import mnistlab.cli; import mnistlab; "
            "print('torch' in sys.modules, mnistlab.WAIT_POLICY)")
    probe = ("import sys, importlib.abc\n"
             "class Watch(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path, target=None):\n"
             "        if name == 'torch':\n"
             "            assert sys.modules['mnistlab'].WAIT_POLICY  # chosen already\n"
             "        return None\n"
             "sys.meta_path.insert(0, Watch())\n" + code)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True ")

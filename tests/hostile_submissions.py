"""Hostile submissions for `mnistlab grade`'s tests, of the same shape as tests/submissions.py: each
function returns an nbformat notebook, and HOSTILE_EXPECTED says the verdict of every item. They try
what a student's code might: reach the network, write to $HOME and /tmp, tamper with another
student's submission or the grader's files, fork without end, loop without end (deaf to the cell
alarm), take all the memory, print fake results and patch `mnistlab` from inside."""

from __future__ import annotations

import nbformat

import submissions
from mnistlab.check import ITEM_IDS

INTRUDER = '''import os, socket
intentos = {{}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    intentos["red"] = "conectado"
except OSError as error:
    intentos["red"] = repr(error)
for destino in [os.path.expanduser("~/robado.txt"), "/tmp/robado-{tag}.txt", {home!r} + "/robado-{tag}.txt"]:
    try:
        with open(destino, "w") as f:
            f.write("estuve aquí")
        intentos[destino] = "escrito"
    except OSError as error:
        intentos[destino] = repr(error)
for objetivo in {targets!r}:
    try:
        with open(objetivo, "a") as f:
            f.write("manipulado")
        intentos[objetivo] = "modificado"
    except OSError as error:
        intentos[objetivo] = repr(error)
print(intentos)'''

FORGER = '''# Resultados "buenos" impresos y mnistlab parcheado desde dentro: nada de esto llega a los veredictos
import mnistlab.check
import mnistlab.check.items as items
import mnistlab.check.evidence as evidence
from mnistlab.check.result import Item
todo_bien = lambda *a, **k: Item("mlp.architecture", True, 1, 1, "ok")
for nombre in ("architecture", "forward", "training", "saved", "evaluate", "plots"):
    setattr(items, nombre, todo_bien)
mnistlab.check.check_notebook = lambda *a, **k: None
evidence.series = lambda values: [2.3] * 100
for item in ("mlp.architecture", "mlp.training", "cnn.training", "accuracy"):
    print(f"✓ {item}: passed")
print("Resultados MultiLayerNN:\\n\\nAccuracy General: 0.9410")
print("Resultados CNN:\\n\\nAccuracy General: 0.9790")'''

DEAF_LOOP = '''import signal
signal.signal(signal.SIGALRM, signal.SIG_IGN)  # sordo a la alarma de cada celda
while True:
    pass'''

FORK_BOMB = '''import os, time
hijos = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    hijos += 1
print("procesos creados:", hijos)'''

MEMORY_HOG = '''try:
    todo = bytearray(64 * 2**30)  # 64 GiB
except MemoryError:
    print("sin memoria")
    raise'''


def first(notebook, source: str) -> nbformat.NotebookNode:
    """`notebook` with `source` as its first code cell."""
    at = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
    notebook.cells.insert(at, nbformat.v4.new_code_cell(source))
    return notebook


def intruder(port: int, home: str, targets: list[str], tag: str) -> nbformat.NotebookNode:
    """The solved notebook, opening with a cell that connects to `port` on loopback, writes to $HOME,
    /tmp and the grader's `home`, and appends to each of `targets` (another submission, the grader's files)."""
    return first(submissions.solved(), INTRUDER.format(port=port, home=home, targets=targets, tag=tag))


def forger() -> nbformat.NotebookNode:
    """The exercise as handed out (every blank unfilled), printing fake results and patching mnistlab."""
    exercise = nbformat.read(submissions.SOLVED.with_name("practica2.ipynb"), as_version=4)
    exercise.cells.append(nbformat.v4.new_code_cell(FORGER))
    return first(exercise, FORGER)


def deaf_loop() -> nbformat.NotebookNode:
    return first(submissions.solved(), DEAF_LOOP)


def fork_bomb() -> nbformat.NotebookNode:
    return first(submissions.solved(), FORK_BOMB)


def memory_hog() -> nbformat.NotebookNode:
    return first(submissions.solved(), MEMORY_HOG)


TEXT_ITEMS = ("parameters", "sizes", "analysis", "accuracy")  # judged from the notebook file, not its run
ALL_PASS = {item: True for item in ITEM_IDS}
ALL_FAIL = {item: False for item in ITEM_IDS}
# Per hostile variant: {item id: passed}, and the status.
HOSTILE_EXPECTED = {
    "intruder": ("passed", ALL_PASS),  # none of it reaches anything; the practice itself is right
    "forger": ("failed", ALL_FAIL),  # fake prints and patches gain nothing
    # killed at the wall clock before any part ran: what the run shows fails; what is read from the
    # notebook's own text and saved outputs (deliverables 2-4, the accuracy "as printed") stands
    "deaf_loop": ("failed", {**ALL_FAIL, **{item: True for item in TEXT_ITEMS}}),
    "fork_bomb": ("passed", ALL_PASS),  # capped: the forks fail, the notebook goes on
    "memory_hog": ("passed", ALL_PASS),  # refused: the cell fails, the next ones run
    "not_a_notebook": ("error", ALL_FAIL),
}

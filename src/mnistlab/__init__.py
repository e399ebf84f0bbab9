"""mnistlab: the classic MNIST lesson (an MLP and a LeNet-5-style CNN in PyTorch), done faithfully and fast."""

import importlib
import importlib.abc
import importlib.util
import sys

from mnistlab.openmp import choose_wait_policy

__version__ = "0.3.0"
WAIT_POLICY = choose_wait_policy()  # before any module of the package imports torch

# Modules that lived at the top of the package in released versions: their old import paths (in
# notebooks, scripts and the README of those versions: `from mnistlab.evaluate import evaluate`) name
# the same modules. (job_process, job_messages, served and tables were never released at the top.)
MOVED = {
    "mnistlab.models": "mnistlab.nets.models", "mnistlab.layers": "mnistlab.nets.layers",
    "mnistlab.inside": "mnistlab.nets.inside",
    "mnistlab.config": "mnistlab.training.config", "mnistlab.train": "mnistlab.training.train",
    "mnistlab.recipes": "mnistlab.training.recipes", "mnistlab.augment": "mnistlab.training.augment",
    "mnistlab.runs": "mnistlab.training.runs", "mnistlab.jobs": "mnistlab.training.jobs",
    "mnistlab.evaluate": "mnistlab.inference.evaluate", "mnistlab.predict": "mnistlab.inference.predict",
    "mnistlab.preprocess": "mnistlab.inference.preprocess", "mnistlab.lab": "mnistlab.robustness.drawing",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as the module at its new one (one module object under both names)."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def __init__(self):
        self._specs = {}

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._specs[spec.name] = module.__spec__  # the import system sets the alias's spec on it next
        return module

    def exec_module(self, module):
        module.__spec__ = self._specs.pop(module.__spec__.name)  # put its own back


sys.meta_path.append(_MovedModules())

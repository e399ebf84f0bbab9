"""mnistlab: the classic MNIST lesson (an MLP and a LeNet-5-style CNN in PyTorch), done faithfully and fast."""

from mnistlab.openmp import choose_wait_policy

__version__ = "0.3.0"
WAIT_POLICY = choose_wait_policy()  # before any module of the package imports torch

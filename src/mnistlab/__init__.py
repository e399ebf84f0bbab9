"""mnistlab: the classic MNIST lesson (an MLP and a LeNet-5-style CNN in PyTorch), done faithfully and fast."""

__version__ = "0.1.0"

"""The practice's own training loop, kept as its notebook writes it (torchvision MNIST, ToTensor,
DataLoader): the reference that the tests and benchmarks hold mnistlab's faster loop against. A test
helper, not part of the package (benchmarks/ puts tests/ on sys.path to import it)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.optim as optim
import torchvision.datasets as datasets
import torchvision.transforms as transforms
from torch.utils.data import DataLoader

from mnistlab.nets.models import create_model


def practice_datasets(root):
    """The practice's two `datasets.MNIST(...)` lines (with download off: mnistlab fetched the files)."""
    train_dataset = datasets.MNIST(root=str(root), train=True, download=False, transform=transforms.ToTensor())
    test_dataset = datasets.MNIST(root=str(root), train=False, download=False, transform=transforms.ToTensor())
    return train_dataset, test_dataset


def practice_train(model_name, train_dataset, seed=0, num_epochs=10, max_steps=None, device="cpu"):
    """The practice's training cell; returns (model, per-iteration losses)."""
    torch.manual_seed(seed)
    model = create_model(model_name)
    model.to(device)
    batch_size = 64
    train_loader = DataLoader(dataset=train_dataset, batch_size=batch_size, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    train_loss = []
    model.train()
    for epoch in range(num_epochs):
        for inputs, labels in train_loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            train_loss.append(loss.item())
            if max_steps is not None and len(train_loss) >= max_steps:
                return model, train_loss
    return model, train_loss

import pytest
import numpy as np
import torch
from torch.utils.data import DataLoader

from mnistlab.inference.evaluate import evaluate, evaluate_accuracy
from mnistlab.nets.models import create_model
from practice import practice_datasets


def practice_evaluate_accuracy(model, test_dataset, device="cpu"):
    """The practice's function, completed as its notebook intends."""
    model.to(device)
    model.eval()
    correct_per_class = torch.zeros(10)
    total_per_class = torch.zeros(10)
    total_correct = 0
    total_samples = 0
    test_loader = DataLoader(test_dataset, batch_size=1000, shuffle=False)
    with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            _, predicted = torch.max(outputs, 1)
            for i in range(10):
                correct_per_class[i] += (predicted[labels == i] == i).sum().item()
                total_per_class[i] += (labels == i).sum().item()
            total_correct += (predicted == labels).sum().item()
            total_samples += labels.size(0)
    return total_correct / total_samples, (correct_per_class / total_per_class).tolist()


def partly_trained_mlp(train_split):
    """A quickly trained MLP (least squares on the last layer is overkill; a few SGD steps will do)."""
    torch.manual_seed(1)
    model = create_model("mlp")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = train_split
    for start in range(0, 6400, 64):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images[start:start + 64]), labels[start:start + 64]).backward()
        optimizer.step()
    return model


@pytest.mark.slow
def test_matches_the_practice_and_an_independent_count(mnist_root, train_split, test_split):
    model = partly_trained_mlp(train_split)
    images, labels = test_split
    result = evaluate(model, images, labels)

    # the practice's own function over torchvision's dataset: identical numbers
    _, test_dataset = practice_datasets(mnist_root)
    overall, per_digit = practice_evaluate_accuracy(model, test_dataset)
    assert result.overall_accuracy == overall and result.per_digit_accuracy == per_digit
    assert evaluate_accuracy(model, test_dataset) == (overall, per_digit)
    assert evaluate_accuracy(model, test_split) == (overall, per_digit)

    # an independent numpy count for the confusion matrix
    with torch.no_grad():
        predicted = model(images).argmax(dim=1).numpy()
    truth = labels.numpy()
    confusion = np.zeros((10, 10), dtype=int)
    for t, p in zip(truth, predicted):
        confusion[t, p] += 1
    assert np.array_equal(np.array(result.confusion), confusion)
    assert 0.5 < overall < 1.0  # a real, imperfect model, so the check means something
    for digit in range(10):
        assert abs(result.per_digit_accuracy[digit] - confusion[digit, digit] / confusion[digit].sum()) < 1e-6
    assert np.allclose(result.confidences.numpy(), torch.softmax(model(images), 1).max(1).values.detach().numpy())

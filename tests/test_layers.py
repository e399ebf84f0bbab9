import pytest
import torch.nn as nn

from mnistlab.errors import MnistlabError
from mnistlab.layers import cnn_size_rows, measured_shapes, parameter_rows
from mnistlab.models import MODELS, count_parameters, create_model


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_rows_add_up(name):
    model = create_model(name)
    rows = parameter_rows(model)
    assert sum(r.total for r in rows) == count_parameters(model)
    for row in rows:
        layer = getattr(model, row.name)
        assert row.weights == layer.weight.numel() and row.biases == layer.bias.numel()


def test_cnn_sizes_follow_the_formula_and_the_network():
    rows = cnn_size_rows(create_model("cnn"))
    assert [(r.layer, r.shape) for r in rows] == [
        ("input", (1, 28, 28)), ("conv1", (6, 28, 28)), ("pool1", (6, 14, 14)), ("conv2", (16, 10, 10)),
        ("pool2", (16, 5, 5)), ("flatten", (400,)), ("fc1", (120,)), ("fc2", (84,)), ("fc3", (10,))]
    assert rows[1].working == "O = (28 − 5 + 2·2) / 1 + 1 = 28"
    assert measured_shapes(create_model("cnn"))["fc1"] == ((400,), (120,))


def test_a_formula_mismatch_is_an_error():
    cnn = create_model("cnn")
    cnn.pool1 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)  # not what O = ... predicts for odd sizes
    cnn.conv1 = nn.Conv2d(1, 6, kernel_size=4, padding=2)  # 29×29 output, pooled to 15 with ceil_mode
    with pytest.raises(MnistlabError, match="pool1: the formula gives"):
        cnn_size_rows(cnn)

import pytest
import torch.nn as nn

from mnistlab.errors import MnistlabError
from mnistlab.nets.layers import cnn_size_rows, describe, parameter_rows
from mnistlab.nets.models import MODELS, count_parameters, create_model


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
    fc1 = next(r for r in describe(create_model("cnn")) if r.name == "fc1")
    assert (fc1.input_shape, fc1.output_shape) == ((400,), (120,))


def test_a_formula_mismatch_is_an_error():
    cnn = create_model("cnn")
    cnn.pool1 = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)  # not what O = ... predicts for odd sizes
    cnn.conv1 = nn.Conv2d(1, 6, kernel_size=4, padding=2)  # 29×29 output, pooled to 15 with ceil_mode
    with pytest.raises(MnistlabError, match="pool1: the formula gives"):
        cnn_size_rows(cnn)


ROLES = {
    "mlp": [("input", "input", (1, 28, 28)), ("flatten", "flatten", (784,)), ("fc1", "hidden", (512,)),
            ("fc2", "hidden", (512,)), ("fc3", "logits", (10,))],
    "cnn": [("input", "input", (1, 28, 28)), ("conv1", "conv", (6, 28, 28)), ("pool1", "pool", (6, 14, 14)),
            ("conv2", "conv", (16, 10, 10)), ("pool2", "pool", (16, 5, 5)), ("flatten", "flatten", (400,)),
            ("fc1", "hidden", (120,)), ("fc2", "hidden", (84,)), ("fc3", "logits", (10,))],
    "mlp-small": [("input", "input", (1, 28, 28)), ("flatten", "flatten", (784,)), ("fc1", "hidden", (77,)),
                  ("fc2", "logits", (10,))],
}


@pytest.mark.parametrize("name", list(MODELS))
def test_describe_walks_both_networks_one_way(name):
    model = create_model(name)
    rows = describe(model)
    assert [(r.name, r.role, r.output_shape) for r in rows] == ROLES[name]
    assert all(a.output_shape == b.input_shape for a, b in zip(rows, rows[1:]))  # each step takes the last one's output
    assert sum(r.total for r in rows) == count_parameters(model)
    # a ReLU after every convolution and hidden layer, as forward() applies it; none after pools or logits
    assert [r.name for r in rows if r.relu] == [r.name for r in rows if r.role in ("conv", "hidden")]


@pytest.mark.parametrize("name", list(MODELS))
def test_summary_and_the_page_show_the_same_rows(name):
    from mnistlab.lesson.tables import summary_table
    from mnistlab.web.studio import describe_layers

    page = describe_layers(name, create_model(name))
    table = summary_table(name, "en").splitlines()[4:-2]  # between the header's rule and the closing one
    assert [line.split()[0] for line in table] == [row["name"] for row in page]
    assert [row["role"] for row in page] == [role for _, role, _ in ROLES[name]]


def test_a_reshape_that_is_not_a_flatten_is_refused():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(28, 10)

        def forward(self, x):
            return self.fc1(x[:, 0, 0])  # takes one row of the image: not all of it

    with pytest.raises(MnistlabError, match="not a flatten step"):
        describe(Odd())

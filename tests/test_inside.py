"""Inside view: every layer of both networks, named and shaped as the studio's API promises, and
consistent with the network's own forward pass."""

import numpy as np
import pytest
import torch

from helpers import handed_on
from mnistlab.errors import MnistlabError
from mnistlab.nets.inside import layer_outputs, layer_weight
from mnistlab.nets.models import MODELS, create_model

EXPECTED = {
    "mlp": [("fc1", (512,)), ("fc2", (512,)), ("fc3", (10,))],
    "mlp-small": [("fc1", (77,)), ("fc2", (10,))],
    "cnn": [("conv1", (6, 28, 28)), ("pool1", (6, 14, 14)), ("conv2", (16, 10, 10)), ("pool2", (16, 5, 5)),
            ("fc1", (120,)), ("fc2", (84,)), ("fc3", (10,))],
}


@pytest.mark.parametrize("name", list(MODELS))
def test_layers_named_shaped_and_consistent_with_forward(name):
    torch.manual_seed(0)
    model = create_model(name)
    image = torch.rand(28, 28)
    layers = layer_outputs(model, image)
    assert [(layer.name, layer.shape) for layer in layers] == EXPECTED[name]
    assert all(layer.values.shape == layer.shape and layer.values.dtype == np.float32 for layer in layers)
    logits = model(image.reshape(1, 1, 28, 28)).detach().numpy()[0]
    np.testing.assert_allclose(layers[-1].values, logits, rtol=1e-5, atol=1e-6)
    # every layer's output as the network's own forward() hands it on: after its ReLU where it has one
    for layer, passed in zip(layers, handed_on(model, image), strict=True):
        np.testing.assert_allclose(layer.values, passed, rtol=1e-5, atol=1e-6, err_msg=layer.name)


def test_cnn_pool_is_max_of_relu_conv():
    torch.manual_seed(1)
    layers = {layer.name: layer.values for layer in layer_outputs(create_model("cnn"), torch.rand(28, 28))}
    pooled = layers["conv1"].reshape(6, 14, 2, 14, 2).max(axis=(2, 4))
    np.testing.assert_allclose(layers["pool1"], pooled, rtol=1e-6)


def test_layer_weight():
    model = create_model("cnn")
    assert layer_weight(model, "conv1").shape == (6, 1, 5, 5)
    assert layer_weight(model, "conv2").shape == (16, 6, 5, 5)
    np.testing.assert_array_equal(layer_weight(model, "fc3"), model.fc3.weight.detach().numpy())
    with pytest.raises(MnistlabError, match="no layer with weights called 'pool1'"):
        layer_weight(model, "pool1")

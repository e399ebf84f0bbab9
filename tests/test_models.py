import pickle

import pytest
import torch

from mnistlab.errors import MnistlabError
from mnistlab.nets.models import MODELS, count_parameters, create_model, load_weights

EXPECTED_PARAMETERS = {"mlp": 669_706, "cnn": 61_706, "mlp-small": 61_225}
# The practice's attribute names, hence its notebook's state_dict keys.
PRACTICE_KEYS = {
    "mlp": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
    "cnn": ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
            "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"],
    "mlp-small": ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"],  # the lab's, named as the MLP's
}


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shape_and_finite(name):
    model = create_model(name)
    out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count(name):
    assert count_parameters(create_model(name)) == EXPECTED_PARAMETERS[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_state_dict_keys_are_the_practices(name):
    assert list(create_model(name).state_dict()) == PRACTICE_KEYS[name]


def test_cnn_has_the_practices_pooling_layers():
    cnn = create_model("cnn")
    assert isinstance(cnn.pool1, torch.nn.MaxPool2d) and isinstance(cnn.pool2, torch.nn.MaxPool2d)
    assert cnn.conv1.padding == (2, 2) and cnn.conv2.padding == (0, 0)


def test_registry_rejects_unknown_name():
    with pytest.raises(MnistlabError, match="unknown model 'resnet'; choose one of: mlp, cnn, mlp-small"):
        create_model("resnet")


@pytest.mark.parametrize("name", list(MODELS))
def test_load_weights_round_trip_and_recognition(tmp_path, name):
    model = create_model(name)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    found, loaded = load_weights(tmp_path / "w.pth")
    assert found == name
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_checkpoint_of_the_other_architecture(tmp_path):
    torch.save(create_model("cnn").state_dict(), tmp_path / "cnn.pth")
    with pytest.raises(MnistlabError, match="does not fit the mlp network; it is a cnn checkpoint: pass --model cnn"):
        load_weights(tmp_path / "cnn.pth", "mlp")


def test_bad_weight_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(MnistlabError, match="is not a PyTorch weights file"):
        load_weights(tmp_path / "junk.pth")
    with pytest.raises(MnistlabError, match="no such file"):
        load_weights(tmp_path / "absent.pth")
    torch.save({"fc1.weight": torch.zeros(3)}, tmp_path / "partial.pth")
    with pytest.raises(MnistlabError, match="fits neither network"):
        load_weights(tmp_path / "partial.pth")


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_untrusted_pickle_is_refused(tmp_path):
    """weights_only=True: a pickle that would call a function is rejected, not executed."""
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"fc1.weight": Payload()}, f)
    with pytest.raises(MnistlabError, match="is not a PyTorch weights file"):
        load_weights(tmp_path / "evil.pth")


def test_a_whole_pickled_model_is_told_to_save_its_state_dict(tmp_path):
    torch.save(create_model("cnn"), tmp_path / "cnn.pth")  # what `torch.save(model)` writes
    with pytest.raises(MnistlabError, match=r"holds a whole pickled model \(torch.save\(model\)\).*"
                                            r"torch.save\(model.state_dict\(\), 'cnn.pth'\)"):
        load_weights(tmp_path / "cnn.pth")


def test_weights_named_otherwise_load_by_their_shapes_in_order(tmp_path):
    """An nn.Sequential student's keys ("1.weight", "3.bias", ...): the same tensors, mapped in order."""
    torch.manual_seed(0)
    sequential = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                     torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    torch.save(sequential.state_dict(), tmp_path / "multinn.pth")
    name, model = load_weights(tmp_path / "multinn.pth")
    images = torch.rand(4, 1, 28, 28)
    assert name == "mlp" and torch.equal(model(images), sequential(images))
    shuffled = dict(reversed(list(sequential.state_dict().items())))  # same names, shapes out of order
    torch.save(shuffled, tmp_path / "reversed.pth")
    with pytest.raises(MnistlabError, match="fits neither network"):
        load_weights(tmp_path / "reversed.pth")


def test_a_registry_entry_carries_what_a_network_is():
    from mnistlab.i18n import texts

    entry = MODELS["cnn"]
    assert entry.cls is type(create_model("cnn")) and entry.display_name == "CNN"
    assert entry.describe() == {"name": "cnn", "display_name": "CNN", "color": entry.color, "lesson": True}
    assert entry.articles(texts("es")) == ("la CNN", "de la CNN", "a la CNN")
    assert [e.display_name for e in MODELS.values()] == ["MultiLayerNN", "CNN", "SmallMLP"]
    assert [name for name, e in MODELS.items() if e.lesson] == ["mlp", "cnn"]  # the lab's SmallMLP is not


def test_adding_a_network_is_one_registry_entry(monkeypatch):
    """A network registered once is known to create_model, the page's info and the report's sentences;
    one outside the lesson is left out of `mnistlab run` and the report's comparison."""
    from mnistlab.i18n import texts
    from mnistlab.inference.predict import from_models
    from mnistlab.nets import models
    from mnistlab.report.analysis import Network, phrases

    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    monkeypatch.setattr("mnistlab.inference.predict.MODELS", models.MODELS)
    monkeypatch.setattr("mnistlab.report.analysis.MODELS", models.MODELS)

    @models.register_model("tiny", display_name="TinyNN", color="#123456", lesson=False,
                           articles=lambda t: ("the TinyNN", "of the TinyNN", "to the TinyNN"))
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 10)

        def forward(self, x):
            return self.fc1(x.view(-1, 784))

    assert isinstance(create_model("tiny"), Tiny)
    assert from_models({"tiny": Tiny()}).loaded["tiny"].describe()["display_name"] == "TinyNN"
    assert phrases(Network("tiny", [0.9], [[0.9] * 10], [[0] * 10] * 10, [], [], 1, []), texts("en"))["The"] == "The TinyNN"
    assert models.lesson_models() == ["mlp", "cnn"]
    with pytest.raises(ValueError, match="registered already"):
        models.register_model("mlp", "x", "#000", lambda t: ("", "", ""))(Tiny)

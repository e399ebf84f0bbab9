import json

import pytest
import torch
from torch.utils.data import Subset

from helpers import interrupt_in_epoch, quiet
from mnistlab.errors import MnistlabError
from mnistlab.inference.evaluate import evaluate
from mnistlab.nets.models import create_model
from practice import practice_datasets, practice_train
from mnistlab.training.config import ConfigError
from mnistlab.training.train import TrainConfig, fit, resolve_device



@pytest.mark.parametrize("kwargs, message", [
    ({"model": "vgg"}, "^model must be one of mlp, cnn"),
    ({"epochs": -1}, r"^epochs must be at least 1 \(got -1\)"),
    ({"batch_size": 0}, r"^batch_size must be between 1 and 60000 \(got 0\)"),
    ({"lr": -0.1}, r"^lr must be a positive number"),
    ({"lr": float("nan")}, r"^lr must be a positive number"),
    ({"max_steps": 0}, r"^max_steps must be at least 1"),
    ({"recipe": "magic"}, r"^recipe must be one of"),
    ({"seed": 1.5}, r"^seed must be a whole number \(got 1.5\)"),
])
def test_config_validation_names_the_setting_not_a_flag(kwargs, message):
    """The page uses the config too: the message names the field; the CLI turns it into the flag."""
    with pytest.raises(ConfigError, match=message) as caught:
        TrainConfig(**kwargs)
    assert caught.value.as_flag().startswith("--" + next(iter(kwargs)).replace("_", "-") + " ")


def test_device_is_checked_where_it_is_used_not_by_the_config():
    assert TrainConfig(device="tpu").device == "tpu"  # building a config probes no hardware
    with pytest.raises(ConfigError, match=r"^device 'tpu' is not a device"):
        resolve_device("tpu")


def test_practice_defaults():
    config = TrainConfig()
    assert (config.epochs, config.lr, config.batch_size, config.recipe) == (10, 0.01, 64, "practice")


@pytest.mark.slow
def test_mlp_losses_equal_the_practice_loop_bit_for_bit(mnist_root, train_split):
    """1,000 steps on the full training set: all of epoch 1 (938 steps) and the start of epoch 2."""
    train_dataset, _ = practice_datasets(mnist_root)
    _, reference = practice_train("mlp", train_dataset, seed=0, max_steps=1000)
    result = fit(TrainConfig(model="mlp", seed=0, max_steps=1000), *train_split, log=quiet)
    assert len(result.loss) == len(reference) == 1000
    assert max(abs(a - b) for a, b in zip(result.loss, reference)) <= 1e-6


@pytest.mark.slow
def test_cnn_losses_equal_the_practice_loop_over_three_epochs(mnist_root, train_split):
    """On the first 3,200 images (50 steps an epoch), 150 steps cross three epoch boundaries' reshuffles."""
    train_dataset, _ = practice_datasets(mnist_root)
    _, reference = practice_train("cnn", Subset(train_dataset, range(3200)), seed=3, max_steps=150)
    result = fit(TrainConfig(model="cnn", seed=3, train_size=3200, max_steps=150), *train_split, log=quiet)
    assert len(result.epoch_loss) == 3
    assert max(abs(a - b) for a, b in zip(result.loss, reference)) <= 1e-6


@pytest.mark.slow
def test_one_epoch_reaches_the_measured_floor(train_split, test_split):
    """Measured with the practice recipe, seed 0: MLP 84.5% after one epoch; the floor leaves margin."""
    result = fit(TrainConfig(model="mlp", epochs=1), *train_split, log=quiet)
    assert evaluate(result.model, *test_split).overall_accuracy >= 0.80


def test_divergence_names_the_step(train_split):
    with pytest.raises(MnistlabError, match=r"the loss became \S+ at step \d+: .*smaller --lr \(now 1000\)"):
        fit(TrainConfig(model="mlp", lr=1000, max_steps=200), *train_split, log=quiet)


def test_run_folder_after_interrupt_holds_last_finished_epoch(train_split, tmp_path, monkeypatch):
    interrupt_in_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        fit(TrainConfig(model="mlp", epochs=3, train_size=640), *train_split, out_dir=tmp_path, log=quiet)
    config = json.loads((tmp_path / "config.json").read_text())
    history = json.loads((tmp_path / "history.json").read_text())
    assert config["epochs_completed"] == 1 and len(history["loss"]) == 10 and len(history["epoch_loss"]) == 1
    model = create_model("mlp")
    model.load_state_dict(torch.load(tmp_path / "model.pth"))  # the practice's own loading line
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_a_run_records_its_training_set_accuracy_beside_the_test_one(quick_runs, train_split):
    """metrics.json's train_accuracy (added in 0.3.0) is the run's weights scored on the training
    images it learnt from (here all 60,000), as the test accuracy is on the test images."""
    from mnistlab.nets.models import load_weights
    from mnistlab.training.runs import load_run

    run = load_run(quick_runs / "mlp-quick")
    _, model = load_weights(run.weights, "mlp")
    assert run.metrics.train_accuracy == evaluate(model, *train_split).overall_accuracy
    assert 0.9 < run.metrics.train_accuracy < 1


def test_a_run_on_part_of_the_training_set_scores_the_part_it_learnt_from(mnist_root, train_split, tmp_path):
    """With train_size, the training-set accuracy is measured on those images only: on all 60,000 the
    unseen 59,360 would make an overfitted network look as good on its training set as on the test."""
    from mnistlab.nets.models import load_weights
    from mnistlab.training.train import train_run

    run = train_run(TrainConfig(model="mlp", epochs=2, train_size=640, device="cpu"), tmp_path / "mlp-part",
                    mnist_root, log=quiet)
    _, model = load_weights(run.weights, "mlp")
    images, labels = train_split
    assert run.metrics.train_accuracy == evaluate(model, images[:640], labels[:640]).overall_accuracy
    assert run.metrics.train_accuracy != evaluate(model, images, labels).overall_accuracy

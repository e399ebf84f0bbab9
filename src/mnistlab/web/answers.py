"""What /api/predict and /api/inside answer for a drawing, both from one inference call
(`Networks.infer`): each network's digit, confidence and probabilities, and for the inside view
every layer's output from the same pass. Runs in a worker thread: it is CPU work."""

from __future__ import annotations

import numpy as np

from mnistlab.inference.predict import Inference, Networks
from mnistlab.web.http import image_of


def predict_answer(networks: Networks, content_type: str, body: bytes) -> dict:
    """{"mlp": {"digit", "confidence", "probabilities"}, "cnn": {...}, "input": [784]}."""
    image = image_of(content_type, body)  # (28, 28)
    result = {name: prediction(inference) for name, inference in networks.infer(image[None]).items()}
    result["input"] = rounded(image)
    return result


def inside_answer(networks: Networks, content_type: str, body: bytes) -> dict:
    """{"input": [784], "networks": {name: {"digit", "confidence", "probabilities", "layers": [...]}}}."""
    image = image_of(content_type, body)  # (28, 28)
    answer = {"input": rounded(image), "networks": {}}
    for name, inference in networks.infer(image[None], layers=True).items():
        answer["networks"][name] = {
            **prediction(inference),
            "layers": [{"name": layer.name, "shape": list(layer.shape), "values": rounded(layer.values)}
                       for layer in inference.layers],
        }
    return answer


def prediction(inference: Inference) -> dict:
    """One network's answer for the batch's first image."""
    probabilities = inference.probabilities[0]
    digit = int(probabilities.argmax())
    return {"digit": digit, "confidence": float(probabilities[digit]),
            "probabilities": [float(p) for p in probabilities]}


def rounded(values: np.ndarray) -> list[float]:
    """Values as JSON numbers with 4 decimals (what the page draws; a quarter of the bytes)."""
    return np.round(np.asarray(values).ravel().astype(np.float64), 4).tolist()

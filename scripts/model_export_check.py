#!/usr/bin/env python3
"""Runs a model exported by `ktrdr models export DIR` with safetensors and numpy alone — no ktrdr,
no torch — and checks that it computes what ktrdr computed.

Reads DIR/model.json (features, scaler, layers, classes), DIR/model.safetensors (the weights) and
DIR/test_predictions.json (test rows, raw, with ktrdr's probabilities); applies the scaler and the
layers exactly as model.json describes them; and asserts that every probability is within 1e-5 of
ktrdr's and every predicted class (the argmax) is the same. So that a pass means something, it also
checks that two wrong models — the features left unscaled, one output bias nudged by 0.1 — give
probabilities that miss ktrdr's by more than that tolerance.

Prints one summary line; exits 1 with the first disagreement otherwise. Run it with the venv of
scripts/ensure-python-export-venv.sh: .venv-export/bin/python scripts/model_export_check.py DIR
"""

import json
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

TOLERANCE = 1e-5


def activation(x, spec):
    """PyTorch's definitions of the activations model.json names."""
    name = spec["name"]
    if name == "relu":
        return np.maximum(x, np.float32(0))
    if name == "leaky_relu":
        slope = np.float32(spec["negative_slope"])
        return np.where(x >= 0, x, x * slope)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return np.float32(1) / (np.float32(1) + np.exp(-x))
    raise SystemExit(f"unknown activation {name!r} in model.json")


def softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def predict(model, weights, raw, scale=True):
    """Probabilities for rows of raw features: scaler, then each layer, then softmax (float32)."""
    x = raw.astype(np.float32)
    if scale:
        mean = np.asarray(model["scaler"]["mean"], dtype=np.float32)
        std = np.asarray(model["scaler"]["std"], dtype=np.float32)
        x = (x - mean) / std
    for layer in model["architecture"]["layers"]:
        # nn.Linear: weight is [out_features, in_features].
        x = x @ weights[layer["weight"]].T + weights[layer["bias"]]
        if layer["activation"] is not None:
            x = activation(x, layer["activation"])
        # Dropout is the identity at inference (model.json: architecture.dropout).
    assert model["architecture"]["output"]["function"] == "softmax"
    return softmax(x)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: model_export_check.py DIR (a `ktrdr models export` directory)")
    directory = Path(sys.argv[1])
    model = json.loads((directory / "model.json").read_text())
    if model["format_version"] != 1:
        raise SystemExit(f"model.json format_version {model['format_version']}, this check reads 1")
    weights = load_file(str(directory / model["files"]["weights"]))
    if model["files"]["test_predictions"] is None:
        raise SystemExit("this export has no test_predictions.json to check against")
    expected = json.loads((directory / model["files"]["test_predictions"]).read_text())

    if expected["features"] != model["features"] or expected["classes"] != model["classes"]:
        raise SystemExit("test_predictions.json and model.json name different features or classes")
    raw = np.asarray(expected["inputs"], dtype=np.float32)
    want = np.asarray(expected["probabilities"], dtype=np.float32)
    want_class = np.asarray(expected["predicted"])
    if raw.shape != (len(want_class), len(model["features"])) or want.shape != (
        len(want_class),
        len(model["classes"]),
    ):
        raise SystemExit(f"unexpected shapes: inputs {raw.shape}, probabilities {want.shape}")

    got = predict(model, weights, raw)
    worst = float(np.abs(got - want).max())
    worst_row = int(np.abs(got - want).max(axis=1).argmax())
    if worst > TOLERANCE:
        raise SystemExit(
            f"FAIL: probabilities differ from ktrdr's by up to {worst:.3g} (> {TOLERANCE}), "
            f"row {worst_row} ({expected['timestamps'][worst_row]}): "
            f"{got[worst_row].tolist()} against {want[worst_row].tolist()}"
        )
    got_class = got.argmax(axis=1)
    disagree = np.flatnonzero(got_class != want_class)
    if disagree.size:
        row = int(disagree[0])
        raise SystemExit(
            f"FAIL: {disagree.size} predicted classes differ, first row {row}: "
            f"{model['classes'][got_class[row]]} against {model['classes'][want_class[row]]}"
        )

    # The check can tell a wrong model from the right one.
    unscaled = float(np.abs(predict(model, weights, raw, scale=False) - want).max())
    last = model["architecture"]["layers"][-1]["bias"]
    nudged = dict(weights)
    nudged[last] = weights[last] + np.asarray([0.1] + [0.0] * (len(model["classes"]) - 1), np.float32)
    nudged_error = float(np.abs(predict(model, nudged, raw) - want).max())
    for what, error in (("unscaled features", unscaled), (f"{last}[0] + 0.1", nudged_error)):
        if error <= TOLERANCE:
            raise SystemExit(
                f"FAIL: with {what} the probabilities still match ktrdr's ({error:.3g}): "
                "the check cannot tell a wrong model from the right one"
            )

    counts = {name: int((got_class == c).sum()) for c, name in enumerate(model["classes"])}
    print(
        f"model export check: {len(want_class)} of {expected['test_rows']} test rows, "
        f"{len(model['features'])} features, {len(model['architecture']['layers'])} layers: "
        f"max |p - ktrdr| {worst:.2g} (tolerance {TOLERANCE}), every class the same {counts}; "
        f"wrong models miss by {unscaled:.2g} (unscaled) and {nudged_error:.2g} (nudged bias)"
    )


if __name__ == "__main__":
    main()

"""What the run cache sees of a model: its Keras config with the names taken out, the weights its pretrained bases
start from, its precision — and, for a person, where two models differ."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import keras
import numpy as np


def mixed_precision(model: keras.Model) -> bool:
    """Whether the model computes in 16 bits (a mixed-precision policy at build time): it changes the numbers."""
    return any(layer.compute_dtype in ("bfloat16", "float16") for layer in model.layers)


def model_signature(model: keras.Model) -> Any:
    """The model's Keras config with layer names replaced by their order of appearance and dtypes dropped.

    Names do not change what is learned; the dtype policy enters the key once, as `mixed_precision`.
    """
    config = _drop_dtypes(json.loads(json.dumps(model.get_config(), default=str)))  # tuples become lists
    names: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "class_name" in node and isinstance(node.get("config"), dict) and "name" in node["config"]:
                names.setdefault(node["config"]["name"], f"layer{len(names)}")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rename(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    names.setdefault(config.get("name", ""), "model")
    return rename(config)


def model_differences(written: keras.Model, built: keras.Model) -> list[str]:
    """Where two models' signatures differ, layer by layer, named as in `written` (empty: the same network, so the
    same cache key). A layer whose only change is the input shape an earlier change gave it is not listed, unless
    nothing else differs (then every difference is)."""
    ours, theirs = model_signature(written)["layers"], model_signature(built)["layers"]
    names = [layer.name for layer in written.layers] if len(written.layers) == len(ours) else []
    problems = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if a == b or _drop_build_config(a) == _drop_build_config(b):
            continue
        kind = (
            a.get("class_name")
            if a.get("class_name") == b.get("class_name")
            else f"{a.get('class_name')} vs {b.get('class_name')}"
        )
        label = f"{names[i]} ({kind})" if names else f"layer {i} ({kind})"
        problems.append(f"{label}: {_first_difference(_drop_build_config(a), _drop_build_config(b))}")
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} layers vs {len(theirs)} layers")
    return problems or [
        f"layer {i}: {_first_difference(a, b)}" for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b
    ]


def _drop_build_config(layer: Any) -> Any:
    """A layer's signature without the shapes it was built for and called on (they follow from earlier layers)."""
    return (
        {k: v for k, v in layer.items() if k not in ("build_config", "inbound_nodes")}
        if isinstance(layer, dict)
        else layer
    )


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """The first place two signatures differ, as `path: ours vs theirs` (nested layers by class name)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), path if k == "config" else f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for x, y in zip(a, b, strict=True):
            if x != y:
                name = x.get("class_name", "") if isinstance(x, dict) else ""
                return _first_difference(x, y, f"{path}.{name}" if name else path)
    return f"{path.lstrip('.')}: {a!r} vs {b!r}"


def _drop_dtypes(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_dtypes(v) for k, v in node.items() if k != "dtype"}
    if isinstance(node, list):
        return [_drop_dtypes(v) for v in node]
    return node


def pretrained_fingerprint(model: keras.Model) -> str | None:
    """A hash of the weights held by nested models (keras.applications bases): ImageNet or random, they are
    where training starts from, which the config does not say."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.weights]
    if not nested:
        return None
    digest = hashlib.sha256()
    for layer in nested:
        for weight in layer.weights:
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight.value)).tobytes())
    return digest.hexdigest()[:16]

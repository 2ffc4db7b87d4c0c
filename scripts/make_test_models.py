#!/usr/bin/env python3
"""Writes the small ONNX models the bad-input tests load (`tests/data/models/`), with their
sidecars. Standard library only: the protobuf of an ONNX `ModelProto` is encoded by hand, so
no `onnx` package is needed to rebuild them.

Models (one feature, `spread_bps`, > 0 on every two-sided quote; a zero row gives a finite
score, so each passes the engine's load-time test inference and misbehaves only on data):
- `nan_score`: `Sqrt(-|x|)`, NaN for every row with a non-zero spread.
- `batch_one`: `Sigmoid(x)` with the batch dimension fixed to 1 (`[1, 1]`, not `[N, 1]`),
  as some exporters write it: every call with more than one row fails.

Usage: python3 scripts/make_test_models.py [OUT_DIR]   (default tests/data/models)
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

FLOAT = 1  # TensorProto.FLOAT
SCHEMA = "alpha-panda.features.v1|price_source=mid|spread_bps()"


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def int_field(field: int, value: int) -> bytes:
    return key(field, 0) + varint(value)


def bytes_field(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return key(field, 2) + varint(len(data)) + data


def value_info(name: str, dims: list[int | str]) -> bytes:
    """ValueInfoProto of a float tensor; a str dim is symbolic (any size)."""
    shape = b"".join(
        bytes_field(1, bytes_field(2, d) if isinstance(d, str) else int_field(1, d))
        for d in dims
    )
    tensor_type = int_field(1, FLOAT) + bytes_field(2, shape)
    return bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor_type))


def node(op: str, inputs: list[str], outputs: list[str]) -> bytes:
    return (
        b"".join(bytes_field(1, i) for i in inputs)
        + b"".join(bytes_field(2, o) for o in outputs)
        + bytes_field(3, f"{op.lower()}_{outputs[0]}")
        + bytes_field(4, op)
    )


def model(name: str, ops: list[str], batch: int | str) -> bytes:
    """`features -> ops[0] -> ... -> score`, each op unary."""
    nodes, prev = [], "features"
    for i, op in enumerate(ops):
        out = "score" if i == len(ops) - 1 else f"t{i}"
        nodes.append(node(op, [prev], [out]))
        prev = out
    graph = (
        b"".join(bytes_field(1, n) for n in nodes)
        + bytes_field(2, name)
        + bytes_field(11, value_info("features", [batch, 1]))
        + bytes_field(12, value_info("score", [batch, 1]))
    )
    opset = bytes_field(1, "") + int_field(2, 13)
    return (
        int_field(1, 8)  # ir_version
        + bytes_field(2, "alpha-panda-tests")  # producer_name
        + bytes_field(7, graph)
        + bytes_field(8, opset)
    )


def sidecar(name: str, batch: int) -> dict:
    digest = hashlib.sha256(SCHEMA.encode()).hexdigest()
    return {
        "format": "alpha-panda.model.v1",
        "name": name,
        "version": "1.0.0",
        "created": "2026-12-02T00:00:00Z",
        "description": __doc__.split("\n\n")[1].strip(),
        "trainer": {"name": "scripts/make_test_models.py", "version": "1"},
        "price_source": "mid",
        "features": [{"name": "spread_bps"}],
        "input": {"name": "features", "dtype": "float32", "shape": [-1, 1]},
        "output": {"name": "score", "dtype": "float32", "shape": [-1, 1], "score_index": 0},
        "feature_schema": SCHEMA,
        "feature_schema_hash": f"sha256:{digest}",
        "thresholds": {"entry": 0.6, "exit": 0.4},
        "note": f"the ONNX graph's batch dimension: {batch}",
    }


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/models")
    out.mkdir(parents=True, exist_ok=True)
    for name, ops, batch in [
        ("nan_score", ["Abs", "Neg", "Sqrt"], "N"),
        ("batch_one", ["Sigmoid"], 1),
    ]:
        (out / f"{name}.onnx").write_bytes(model(name, ops, batch))
        side = sidecar(name, batch)
        (out / f"{name}.json").write_text(json.dumps(side, indent=2) + "\n")
        print(f"wrote {out / name}.onnx and .json")


if __name__ == "__main__":
    main()

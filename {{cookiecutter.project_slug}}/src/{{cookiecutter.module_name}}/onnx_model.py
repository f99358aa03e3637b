"""The ONNX copy of a model: the inputs it takes and an onnxruntime session around it.

Training exports the copy and checks it against scikit-learn; prediction serves it. Both
use this module, so the parity gate checks exactly the code that serves. The copy takes
its inputs in schema order: each numeric column as float32 (rows, 1); each categorical
column as labels (those ``FeatureSchema.coerce_features`` makes, missing values included)
and one int64 code per row into them, which the graph's first node turns back into the
rows' labels. A batch chunk passes only its few distinct labels: handing onnxruntime
those instead of one string per row took a quarter off the copy's time on a chunk
(benchmarks/batch.py). A served request's labels go in one per row (codes 0, 1, 2...), so
it pays for that node's copy instead: 0.108 against 0.097 ms for one row, 0.32-0.33
against 0.27-0.29 ms for 1,000 (the copy alone, in process). Copies exported before take
one string per row, and are served as they are. onnxruntime is imported only when a
session is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.schema import FeatureSchema

LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
VALUE_OUTPUT = "variable"  # a regressor's one output: the predicted value per row
ONNX_FLOAT = "tensor(float)"
ONNX_STRING = "tensor(string)"
ONNX_CODES = "tensor(int64)"
LEVELS_SUFFIX = "__levels"  # a categorical input's distinct labels ...
CODES_SUFFIX = "__codes"  # ... and each row's position among them


# Rows typed by ``FeatureSchema.coerce_features``, or the same values as columns of plain
# lists (numbers or None, string labels): what request validation gives, no DataFrame built.
Features = pd.DataFrame | Mapping[str, Sequence[Any]]


class OnnxModelError(ValueError):
    """The file is not an ONNX model with the inputs and outputs this project expects."""


class OnnxRuntimeMissingError(OnnxModelError):
    """onnxruntime is not installed (it has no wheels for some platforms, e.g. Intel Macs)."""


class OnnxModel:
    """An onnxruntime session that predicts labels and probabilities like the Pipeline."""

    def __init__(self, path: Path, schema: FeatureSchema) -> None:
        try:  # local import: only processes that run the ONNX copy pay for it
            import onnxruntime
        except ImportError:
            raise OnnxRuntimeMissingError(
                "onnxruntime is not installed, so the ONNX copy cannot run"
            ) from None

        options = onnxruntime.SessionOptions()
        # One thread per call: gunicorn already runs one worker per core, and extra
        # threads would only fight those workers for the same cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for a bad file
            raise OnnxModelError(f"{path} is not a usable ONNX model: {error}") from None
        self.schema = schema
        # The converter turns column names into identifiers ("Body Mass (g)" becomes
        # "Body_Mass__g_") but keeps their order: numeric columns, then categorical ones.
        inputs = [(item.name, item.type) for item in self.session.get_inputs()]
        kinds = [kind for _, kind in inputs]
        names = [name for name, _ in inputs]
        count, numeric = len(schema.numeric), [ONNX_FLOAT] * len(schema.numeric)
        if kinds == numeric + [ONNX_STRING, ONNX_CODES] * len(schema.categorical):
            pairs = zip(names[count::2], names[count + 1 :: 2], strict=True)
        elif kinds == numeric + [ONNX_STRING] * len(schema.categorical):
            pairs = ((name, None) for name in names[count:])  # exported before the codes
        else:
            raise OnnxModelError(
                f"{path} takes inputs {inputs}; the schema needs {count} float columns, "
                f"then {len(schema.categorical)} categorical ones (labels and codes), in "
                "that order"
            )
        self.numeric_names = dict(zip(schema.numeric, names[:count], strict=True))
        # Each categorical column's input names: (labels, codes), or (strings, None).
        self.categorical_names: dict[str, tuple[str, str | None]] = dict(
            zip(schema.categorical, pairs, strict=True)
        )
        outputs = {item.name for item in self.session.get_outputs()}
        expected = {VALUE_OUTPUT} if schema.is_regression else {LABEL_OUTPUT, PROBABILITIES_OUTPUT}
        if not expected <= outputs:
            raise OnnxModelError(
                f"{path} has outputs {sorted(outputs)}; expected {' and '.join(sorted(expected))}"
            )

    def inputs(self, features: Features) -> dict[str, np.ndarray]:
        """The arrays the copy takes, one per input in its dtype, from typed rows or columns.

        A request's columns go straight into the arrays: building a pandas DataFrame for
        them and reading it back was half a served record's own time (benchmarks/serving.py).
        """
        arrays = {
            name: np.asarray(features[column], dtype=np.float32).reshape(-1, 1)
            for column, name in self.numeric_names.items()
        }
        for column, (labels, codes) in self.categorical_names.items():
            if codes is None:
                arrays[labels] = np.asarray(features[column], dtype=object).reshape(-1, 1)
            else:
                arrays[labels], positions = level_codes(features[column])
                arrays[codes] = positions.astype(np.int64, copy=False).reshape(-1, 1)
        return arrays

    def probabilities(self, features: Features) -> np.ndarray:
        """Class probabilities only (rows x classes, float32): the copy then skips making
        a label string per row, a fifth of its time on a batch chunk."""
        (probabilities,) = self.session.run([PROBABILITIES_OUTPUT], self.inputs(features))
        return np.asarray(probabilities)

    def values(self, features: Features) -> np.ndarray:
        """A regressor's predicted values, one per row (float32)."""
        (values,) = self.session.run([VALUE_OUTPUT], self.inputs(features))
        return np.asarray(values).reshape(-1)

    def predict(self, features: Features) -> tuple[np.ndarray, np.ndarray]:
        """Labels (one per row) and class probabilities (rows x classes, float32); for a
        regressor, its values and no probabilities (rows x 0)."""
        if self.schema.is_regression:
            values = self.values(features)
            return values, np.empty((len(values), 0), dtype=np.float32)
        labels, probabilities = self.session.run(
            [LABEL_OUTPUT, PROBABILITIES_OUTPUT], self.inputs(features)
        )
        return np.asarray(labels).reshape(-1), np.asarray(probabilities)


def level_codes(column: pd.Series | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A categorical column's labels (object array) and each row's code into them.

    A pandas categorical without gaps (``coerce_features(categories=True)``, as a batch
    asks) holds its distinct labels and the codes already. Any other column is passed as
    it is, one label per row with the codes 0, 1, 2...: hashing the rows to find their
    distinct labels cost a served request more than converting its strings (measured:
    0.41 against 0.33 ms for 1,000 rows, 0.118 against 0.109 ms for one). So a gap is
    never given another row's label, but the labels must be made already (by
    ``coerce_features`` or request validation): a missing value that reaches the copy is
    scored as an unseen label, not as ``MISSING_CATEGORY`` (as with copies exported before
    the codes).
    """
    if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        if not (codes < 0).any():
            return column.cat.categories.to_numpy(dtype=object), codes
    return np.asarray(column, dtype=object), np.arange(len(column), dtype=np.int64)

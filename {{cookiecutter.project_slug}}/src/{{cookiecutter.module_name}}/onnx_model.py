"""The ONNX copy of a model: the inputs it takes and an onnxruntime session around it.

Training exports the copy and checks it against scikit-learn; prediction serves it. Both
use this module, so the parity gate checks exactly the code that serves. The copy takes
one input per feature column, in schema order, shaped (rows, 1): numeric columns as
float32, categorical ones as strings (the labels ``FeatureSchema.coerce_features`` makes,
missing values included). onnxruntime is imported only when a session is opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.module_name }}.schema import FeatureSchema

LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
ONNX_FLOAT = "tensor(float)"
ONNX_STRING = "tensor(string)"


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
        expected = [ONNX_FLOAT] * len(schema.numeric) + [ONNX_STRING] * len(schema.categorical)
        if [kind for _, kind in inputs] != expected:
            raise OnnxModelError(
                f"{path} takes inputs {inputs}; the schema needs {len(schema.numeric)} "
                f"float and {len(schema.categorical)} string columns, in that order"
            )
        self.input_names = dict(zip(schema.features, [name for name, _ in inputs], strict=True))
        outputs = {item.name for item in self.session.get_outputs()}
        if not {LABEL_OUTPUT, PROBABILITIES_OUTPUT} <= outputs:
            raise OnnxModelError(
                f"{path} has outputs {sorted(outputs)}; expected "
                f"{LABEL_OUTPUT!r} and {PROBABILITIES_OUTPUT!r}"
            )

    def inputs(self, features: pd.DataFrame) -> dict[str, np.ndarray]:
        """The per-column arrays the copy takes, from rows typed by ``coerce_features``."""
        names = self.input_names
        arrays = {
            names[column]: features[column].to_numpy(dtype=np.float32).reshape(-1, 1)
            for column in self.schema.numeric
        }
        for column in self.schema.categorical:
            arrays[names[column]] = features[column].to_numpy(dtype=object).reshape(-1, 1)
        return arrays

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities only (rows x classes, float32): the copy then skips making
        a label string per row, a fifth of its time on a batch chunk."""
        (probabilities,) = self.session.run([PROBABILITIES_OUTPUT], self.inputs(features))
        return np.asarray(probabilities)

    def predict(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Labels (one per row) and class probabilities (rows x classes, float32)."""
        labels, probabilities = self.session.run(
            [LABEL_OUTPUT, PROBABILITIES_OUTPUT], self.inputs(features)
        )
        return np.asarray(labels).reshape(-1), np.asarray(probabilities)

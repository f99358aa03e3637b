"""Prediction: a verified model and the engine that runs it, loaded in one straight chain.

``store`` picks the version (the prod pointer, else the last trained model), ``loader``
verifies its files against the metadata and reads them, ``model`` is the loaded model and
``engine`` chooses, once, the ONNX copy or scikit-learn: each module imports only the ones
after it. Imports only the shared modules (config, schema, storage, onnx_model); never
serving, batch, training, the registry or monitoring.
"""

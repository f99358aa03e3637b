"""Prediction: the model store's prod pointer, a verified artifact and the engine that runs it.

Imports only the shared modules (config, schema, storage, onnx_model): serving and batch
build on it, and it never imports them, training, the registry or monitoring.
"""

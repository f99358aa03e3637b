"""Training: read and validate data, build features, fit, evaluate. Run by DVC stages.

Imports the shared modules and ``monitoring.profile`` (the reference profile it saves
beside the model); nothing that serves, and nothing imports it but the registry.
"""

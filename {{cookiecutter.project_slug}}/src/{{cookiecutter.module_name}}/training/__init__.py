"""Training: read and validate data, build features, fit, evaluate. Run by DVC stages."""

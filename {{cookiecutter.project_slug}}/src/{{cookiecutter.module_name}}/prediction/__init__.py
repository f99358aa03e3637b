"""Prediction: load a verified artifact and serve it. Never imports ``training``."""

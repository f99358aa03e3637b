"""Serving: the Flask app and everything HTTP (endpoints, request models, OpenAPI, metrics,
dashboard, hot reload, the retrain endpoint). Imports prediction, prediction_log and the
shared modules; never training, the registry, monitoring, batch or packaging.
"""

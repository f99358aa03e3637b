"""Monitoring the served model: reference profile, drift of logged requests, live scores.

Runs beside the server, not in it (the serving image ships none of this): it reads the
prediction log the server writes and the model store the server reads. Imports
``prediction``, ``prediction_log`` and the shared modules; never training, the registry,
serving or batch.
"""

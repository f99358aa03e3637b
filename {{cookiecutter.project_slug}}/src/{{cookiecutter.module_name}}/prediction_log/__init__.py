"""The prediction log: the serving worker's client, its writer process and the log files.

Serving writes it, monitoring reads it. Imports only the shared modules.
"""

"""The prediction log, written by serving and read by monitoring: the worker's side (client,
writer_pipe, protocol) and the writer process's (writer, appender, line_format, rotating_file).

Imports only the shared modules.
"""

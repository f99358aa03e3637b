"""Batch: score CSV or Parquet files of any size in chunks (readers, writers, the chunk
pipeline). Imports prediction and the shared modules; never serving, training, the
registry, monitoring or packaging.
"""

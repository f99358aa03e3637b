"""Batch: score CSV or Parquet files of any size in chunks: ``run`` drives ``readers``,
``chunks`` (one chunk checked and scored: the seam for Dask or Spark) and ``writers``.
Imports prediction and the shared modules; never serving, training, the registry,
monitoring or packaging.
"""

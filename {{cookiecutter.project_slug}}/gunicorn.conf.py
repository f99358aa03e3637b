"""gunicorn settings for `make serve`; each can be overridden from the environment.

Sync workers, one per core by default: a prediction is CPU-bound, and threaded workers
can pile keep-alive connections onto one process. Scale out with more replicas behind a
load balancer rather than threads.

Metrics: every worker writes its Prometheus samples into PROMETHEUS_MULTIPROC_DIR (a
fresh temporary folder unless you set one), so /metrics adds up across workers.
"""

import logging
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# Threads per worker; above 1, gunicorn's threaded worker (gthread) replaces sync.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Access log to stdout; GUNICORN_ACCESSLOG="" turns it off (e.g. for benchmarks).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# Restart a worker after this many requests (0: never), with jitter so they don't all
# restart at once; a guard against slow memory growth in long-lived processes.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# No runtime control socket (gunicorn >= 27 opens one under ~/.gunicorn by default).
control_socket_disable = True

# Set before any worker imports prometheus_client: it picks its storage at import time.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server):
    """Start with empty metrics: samples of an earlier server would be added in."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def post_worker_init(worker):
    """Start the worker's prediction log writer process before its first request."""
    prediction_log = getattr(worker.wsgi, "extensions", {}).get("prediction_log")
    if prediction_log is not None:
        prediction_log.start()
    _app_log_to_gunicorn(worker)


def _app_log_to_gunicorn(worker):
    """The application's INFO lines (model swaps, refused versions) join gunicorn's log.

    Without this Python drops them: the package's loggers have no handler of their own.
    """
    package = getattr(worker.wsgi, "import_name", "").split(".")[0]
    if package:
        app_log = logging.getLogger(package)
        app_log.handlers = list(worker.log.error_log.handlers)
        app_log.setLevel(logging.INFO)
        app_log.propagate = False


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters stay: totals must not go down)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this config created."""
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)

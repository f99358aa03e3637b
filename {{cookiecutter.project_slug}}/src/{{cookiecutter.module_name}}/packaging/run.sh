#!/usr/bin/env bash
# Run this release from its own folder, with its logs and state outside it.
#
#   ./run.sh VIRTUALENV serve                 # gunicorn, as `make serve` (GUNICORN_BIND, ...)
#   ./run.sh VIRTUALENV drift [--notify]      # as `make drift`, on this server's prediction log
#   ./run.sh VIRTUALENV scores LABELS.csv     # as `make scores`
#
# Where things are written (the bundle folder stays as verify.py checked it):
#   {{ cookiecutter.module_name | upper }}_STATE_DIR  drift and score reports, retrain jobs, Python's bytecode cache
#                default: ${XDG_STATE_HOME:-$HOME/.local/state}/{{ cookiecutter.project_slug }}
#   {{ cookiecutter.module_name | upper }}_LOG_DIR    the prediction log (predictions.jsonl and its rotations)
#                default: $STATE_DIR/logs
# A {{ cookiecutter.module_name | upper }}__PATHS__... variable set by you still wins for its one path.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage="usage: run.sh VIRTUALENV serve|drift|scores [ARGS...]"
venv=${1:?$usage}
command=${2:?$usage}
shift 2

state=${ {{- cookiecutter.module_name | upper }}_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/{{ cookiecutter.project_slug }}}
logs=${ {{- cookiecutter.module_name | upper }}_LOG_DIR:-$state/logs}
prefix={{ cookiecutter.module_name | upper }}__PATHS__
export "${prefix}PREDICTION_LOG=${ {{- cookiecutter.module_name | upper }}__PATHS__PREDICTION_LOG:-$logs/predictions.jsonl}"
export "${prefix}DRIFT_REPORT=${ {{- cookiecutter.module_name | upper }}__PATHS__DRIFT_REPORT:-$state/reports/drift.json}"
export "${prefix}DRIFT_HTML=${ {{- cookiecutter.module_name | upper }}__PATHS__DRIFT_HTML:-$state/reports/drift.html}"
export "${prefix}LIVE_METRICS=${ {{- cookiecutter.module_name | upper }}__PATHS__LIVE_METRICS:-$state/reports/live_metrics.json}"
export "${prefix}RETRAIN_JOBS=${ {{- cookiecutter.module_name | upper }}__PATHS__RETRAIN_JOBS:-$state/retrain}"
export {{ cookiecutter.module_name | upper }}_PARAMS="$here/params.yaml"
# A release serves the version it was built from, never a model nobody promoted.
export {{ cookiecutter.module_name | upper }}__SERVING__SERVE_UNPROMOTED=${ {{- cookiecutter.module_name | upper }}__SERVING__SERVE_UNPROMOTED:-false}
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$state/pycache}
mkdir -p "$state" "$logs"

cd "$here"
case "$command" in
  serve) exec "$venv/bin/gunicorn" --config gunicorn.conf.py '{{ cookiecutter.module_name }}.serving.app:create_app()' "$@" ;;
  drift | scores) exec "$venv/bin/python" -m {{ cookiecutter.module_name }}.monitoring "$command" "$@" ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

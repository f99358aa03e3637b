#!/usr/bin/env bash
# Install this release bundle into a virtualenv, after checking every file of it.
#
#   ./install.sh /opt/{{ cookiecutter.project_slug }}/venv    # creates the virtualenv if needed
#
# verify.py checks each file against MANIFEST.sha256 first (changed, missing or extra
# files are refused: nothing is installed). Then: the pinned, hash-checked serving
# requirements (serve.txt), then the wheel without dependencies. Uses uv when it is on
# PATH (faster), else pip. Needs python3 ({{ cookiecutter.python_version }}+; PYTHON=... picks another).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${1:?usage: install.sh VIRTUALENV_FOLDER}
python=${PYTHON:-python3}

"$python" "$here/verify.py" "$here"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
wheels=("$here"/*.whl)
if command -v uv >/dev/null 2>&1; then
  uv pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps -r "$here/serve.txt"
  uv pip install --quiet --python "$venv/bin/python" --no-deps --reinstall "${wheels[@]}"
else
  "$venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$here/serve.txt"
  "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "${wheels[@]}"
fi
echo "Installed into $venv. Serve from the bundle folder (params.yaml and the model are there):"
echo "  cd $here && $venv/bin/gunicorn --config gunicorn.conf.py '{{ cookiecutter.module_name }}.serving.app:create_app()'"

#!/usr/bin/env bash
# Install this release bundle into a virtualenv, after checking every file of it.
#
#   ./install.sh /opt/{{ cookiecutter.project_slug }}/venv    # creates the virtualenv if needed
#
# verify.py checks each file against MANIFEST.sha256 first (changed, missing or extra
# files are refused: nothing is installed). Then: the pinned, hash-checked serving
# requirements (serve.txt) from the bundle's own wheels/ folder, with no package index
# (none is contacted: the server needs no internet), then the wheel without dependencies.
# Uses uv when it is on PATH (faster), else pip. Needs python3 {{ cookiecutter.python_version }}+ (the Python
# bundle.json names; PYTHON=... picks another).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${1:?usage: install.sh VIRTUALENV_FOLDER}
python=${PYTHON:-python3}

"$python" "$here/verify.py" "$here"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
wheels=("$here"/*.whl)
offline=(--no-index --find-links "$here/wheels")
mismatch() {
  echo "The bundle's wheels do not fit this machine: it was built for the platform and Python" >&2
  echo "in $here/bundle.json (target); this is $("$venv/bin/python" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])')." >&2
  echo "Build it for this machine: make package TARGET_PLATFORM=... TARGET_PYTHON=... (docs/deployment.md)" >&2
  exit 1
}
if command -v uv >/dev/null 2>&1; then
  uv pip install --quiet --python "$venv/bin/python" "${offline[@]}" --require-hashes --no-deps -r "$here/serve.txt" || mismatch
  uv pip install --quiet --python "$venv/bin/python" "${offline[@]}" --no-deps --reinstall "${wheels[@]}"
else
  "$venv/bin/python" -m pip install --quiet "${offline[@]}" --require-hashes --no-deps -r "$here/serve.txt" || mismatch
  "$venv/bin/python" -m pip install --quiet "${offline[@]}" --no-deps --force-reinstall "${wheels[@]}"
fi
echo "Installed into $venv. Serve (logs and state go outside the bundle; see run.sh):"
echo "  $here/run.sh $venv serve"

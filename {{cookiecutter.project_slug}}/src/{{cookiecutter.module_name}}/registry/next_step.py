"""What to do with the model ``make train`` just built: the one next step for its state.

``make train`` ends with this line. The model is either already a registered version (its
training stage had the same data, code and params as that version's commit: in prod, or
waiting for ``make promote``), or new: registered by ``make register`` once ``dvc.lock``
is committed (a version names the commit that reproduces it). Each line holds the exact
command to run, between backticks; a test runs each one as printed.

``make train`` runs it as a module of its own, so that the line costs no import of the
registry's training side (scikit-learn):
``python -m {{ cookiecutter.module_name }}.registry.next_step``.
"""

from __future__ import annotations

import sys

from {{ cookiecutter.module_name }}.config import (
    ConfigError,
    Settings,
    load_settings,
)
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError
from {{ cookiecutter.module_name }}.prediction.store import ModelStore
from {{ cookiecutter.module_name }}.registry import records
from {{ cookiecutter.module_name }}.registry.lineage import RegistryError

COMMIT_THEN_REGISTER = "git add -A && git commit -m 'Train the model' && make register"
ADVICE = (
    "To make this model a version, commit it (dvc.lock names the data, code and params "
    f"that made it), then register it: `{COMMIT_THEN_REGISTER}`"
)


def after_training(settings: Settings) -> str:
    """The line ``make train`` prints: the model's state and the command that comes next."""
    try:
        known = records.registered_as(settings)
    # No commit or no dvc.lock yet (RegistryError), or not a git repository (GTO's own
    # errors): not a registered version. Advice must never fail the training it follows.
    except Exception:
        known = None
    if known is not None:
        if known == prod_version(settings):
            return f"This model is {known}, already registered and in prod: nothing to do."
        return (
            f"This model is {known}, already registered but not in prod. To serve it, "
            f"review its scores (`make models`) and promote it: `make promote VERSION={known}`"
        )
    try:
        committed = records.lock_is_committed(settings.root)
    except RegistryError:  # not a git repository
        committed = False
    if committed:
        return "To make this model a version: `make register`"
    return ADVICE


def prod_version(settings: Settings) -> str | None:
    """The version in prod, or None (no promotion yet, or a store that cannot be read)."""
    try:
        pointer = ModelStore.from_settings(settings).read_pointer()
    except (ModelLoadError, OSError):
        return None
    return pointer.version if pointer else None


def main() -> int:
    """Print the line; exit 0 whatever happens (advice never fails the training)."""
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"{ADVICE} (params.yaml: {error})")
        return 0
    print(after_training(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""File helpers shared by training and prediction: atomic writes, content hashes, and
reading a model artifact trusting only the types this project's pipelines hold.

A write goes to a temporary file in the destination folder and is then renamed over
the target, so a crash never leaves a half-written model, dataset or report behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = new_path_beside(target)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def new_path_beside(target: Path, *, folder: bool = False) -> Path:
    """An empty file (or folder) of a fresh hidden name next to ``target``, with the mode
    any new one of this user gets (0666 or 0777 less the umask, applied by the kernel),
    not mkstemp's 0600 or mkdtemp's 0700: renamed into place, it keeps that mode."""
    candidate = target.with_name(f".{target.name}.{secrets.token_hex(6)}")
    if folder:
        os.mkdir(candidate, 0o777)
    else:  # O_EXCL: never an existing file (48 random bits make a clash all but impossible)
        os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return candidate


def atomic_write(target: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as temporary:
        write(temporary)


def write_json(target: Path, payload: Any) -> None:
    """Write JSON (sorted keys, trailing newline) atomically, so diffs stay readable."""
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(target, lambda path: path.write_text(text, encoding="utf-8"))


def read_json(path: Path) -> Any:
    """Read a UTF-8 JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large artifacts need little memory."""
    return _file_digest(path, hashlib.sha256(), chunk_size)


def md5_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """The md5 DVC records for a file in dvc.lock."""
    return _file_digest(path, hashlib.md5(usedforsecurity=False), chunk_size)


def _file_digest(path: Path, digest: Any, chunk_size: int) -> str:
    """Feed a file to ``digest`` in chunks; return its hex digest."""
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The types a model of this project may hold beyond skops' own trusted set (scikit-learn's
# public estimators, NumPy and SciPy ufuncs, NumPy scalar types, builtins): exactly what
# training's pipeline builder produces for these estimators, as skops.io.get_untrusted_types
# reports them (tests/test_trusted_types.py builds, fits and checks each one). Names, never
# prefixes: "numpy." would also trust numpy.testing's runstring, which calls exec, and no
# function reference is listed at all. Anything else must be named in serving.trusted_types.
BUILDER_TYPES = frozenset(
    {
        "numpy.dtype",  # every pipeline: OneHotEncoder's output dtype
        # DecisionTree, RandomForest, ExtraTrees, GradientBoosting, AdaBoost classifiers
        # and regressors
        "sklearn.tree._tree.Tree",
        # HistGradientBoostingClassifier and Regressor. skops leaves it out of its defaults because a
        # crafted one can crash the process when it predicts (it cannot run code): the
        # checks of the stored files (sha256 at load, the git tag's md5 at promotion) must
        # keep a crafted one out.
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # MLPClassifier, solver adam (the default) or sgd
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)


class UntrustedArtifactError(ValueError):
    """The artifact is not a skops archive, or asks to load a type nobody declared safe."""


def load_pipeline(path: Path, extra_trusted: tuple[str, ...] = ()) -> Any:
    """Load a skops artifact, trusting only ``BUILDER_TYPES`` and the declared extra types.

    skops itself audits the archive against the same list before it builds any object, so
    a refused file never gets as far as importing, let alone calling, what it names.
    """
    import skops.io as sio  # local import: only the model-loading paths need skops

    trusted = sorted(BUILDER_TYPES.union(extra_trusted))
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except zipfile.BadZipFile:
        raise UntrustedArtifactError(
            f"{path} is not a skops archive (a pickle or joblib file?): refused, a model is "
            "only ever read as skops; retrain it with `make train`"
        ) from None
    refused = sorted(set(untrusted).difference(trusted))
    if refused:
        raise UntrustedArtifactError(
            f"{path} contains types this project does not trust: {', '.join(refused)}. "
            "None of the estimators it knows holds them; if the model is yours (another "
            "estimator) and you trust where the file came from, list them under "
            "serving.trusted_types in params.yaml (see docs/serving.md)"
        )
    return sio.load(path, trusted=trusted)

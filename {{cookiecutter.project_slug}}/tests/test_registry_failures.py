"""A registry command that fails ends in one line saying what failed and what to do.

The operator runs ``make register`` or ``make promote`` at a terminal or in CI: a full or
read-only disk, a gate that cannot score, or a bug must each give one line on stderr and a
non-zero exit, never a Python traceback (unless ``<PROJECT>_DEBUG=1`` asks for it). The
projects are the registry tests' throw-away git repositories, never this project's own.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import test_registry
from {{ cookiecutter.module_name }} import storage
from {{ cookiecutter.module_name }}.config import (
    DEBUG_ENV,
    PARAMS_ENV,
)
from {{ cookiecutter.module_name }}.registry import (
    commands,
    failures,
)
from {{ cookiecutter.module_name }}.registry.__main__ import main as registry_main

Project = test_registry.Project
two_versions, project = test_registry.two_versions, test_registry.project

# errno -> words the line must hold: the fix, not only the symptom.
DISK_FAULTS = {
    errno.ENOSPC: "df -h",
    errno.EROFS: "read-only: remount it read-write",
    errno.EACCES: "give this user write access",
}


@pytest.fixture
def command_line(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """``project``, as the command line's params.yaml, without tracebacks asked for."""
    monkeypatch.setenv(PARAMS_ENV, str(project.root / "params.yaml"))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    return project


@contextmanager
def failing_writes(code: int) -> Iterator[None]:
    """Every rename into place (how the store writes any file) fails with ``code``.

    Its own monkeypatch: undoing it must not undo ``command_line``'s PARAMS_ENV, or the
    next command would read this project's own params.yaml and registry."""

    def refuse(_source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code), str(target))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage.os, "replace", refuse)
        yield


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr's only line; fails if there is a traceback or more than one line."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("code", DISK_FAULTS, ids=errno.errorcode.get)
def test_a_disk_fault_during_promotion_is_one_line_with_the_path_and_the_fix(
    command_line: Project, capsys: pytest.CaptureFixture[str], code: int
) -> None:
    store = command_line.store()
    with failing_writes(code):
        assert registry_main(["promote", "v2", "--force", "testing", "--yes"]) == 1
    line = one_error_line(capsys)
    assert str(store.root) in line
    assert os.strerror(code) in line
    assert DISK_FAULTS[code] in line
    assert "make models" in line
    assert store.read_pointer().version == "v1.0.0"


def test_a_failed_copy_names_the_file_it_could_not_write(tmp_path: Path) -> None:
    # shutil.copyfile's fast path (sendfile) reports ENOSPC with the source first
    source, target = tmp_path / "model.skops", tmp_path / "store" / ".model.skops.1f2e"
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(source), None, str(target))
    line = failures.explain(error)
    assert line.startswith(f"error: {target}: No space left on device;")
    assert f"df -h {tmp_path}" in line  # the staging folder is gone: its nearest parent


def test_a_full_disk_during_registration_says_so_and_running_it_again_works(
    command_line: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = command_line.settings
    command_line.train(numeric_imputer=test_registry.other_imputer(settings))
    test_registry.cache_outputs(command_line)
    command_line.commit("Train with the other imputer")
    with failing_writes(errno.ENOSPC):
        assert registry_main(["register"]) == 1
    line = one_error_line(capsys)
    assert "No space left on device" in line
    assert "run the command again" in line
    assert registry_main(["register"]) == 0
    assert command_line.store().metadata_path("v3.0.0").is_file()


def test_a_holdout_the_gate_cannot_score_is_one_line_and_prod_is_untouched(
    command_line: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    holdout = command_line.settings.paths.test_data
    header = holdout.read_text(encoding="utf-8").splitlines()[0]
    holdout.write_text(header + "\n", encoding="utf-8")
    assert registry_main(["promote", "v2", "--force", "testing", "--yes"]) == 1
    line = one_error_line(capsys)
    assert "no rows" in line
    assert "make train" in line
    assert command_line.store().read_pointer().version == "v1.0.0"


def test_a_model_the_gate_cannot_score_is_refused_in_one_line(
    command_line: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unfit(_self: Any, _rows: Any) -> None:
        raise ValueError("this estimator was given data it cannot take\n(second line)")

    # scikit-learn's refusal of input it cannot take, from inside the candidate's pipeline
    monkeypatch.setattr("sklearn.pipeline.Pipeline.predict", unfit)
    assert registry_main(["promote", "v2", "--force", "testing", "--yes"]) == 1
    line = one_error_line(capsys)
    assert "cannot be scored on the holdout" in line
    assert command_line.store().read_pointer().version == "v1.0.0"


@pytest.mark.parametrize("debug", ["", "0"], ids=["unset", "0"])
@pytest.mark.parametrize("command", [["models"], ["register"], ["promote", "v2", "--yes"]])
def test_an_unexpected_error_is_one_line_naming_the_debug_switch(
    command_line: Project,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    debug: str,
) -> None:
    def bug(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug\nspread over lines")

    monkeypatch.setenv(DEBUG_ENV, debug)
    monkeypatch.setattr(sys.modules[registry_main.__module__], "load_settings", bug)
    assert registry_main(command) == 1
    line = one_error_line(capsys)
    assert "RuntimeError: a bug spread over lines" in line
    assert f"{DEBUG_ENV}=1" in line


def test_the_debug_switch_shows_the_traceback(
    command_line: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(commands, "register", bug)
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="a bug"):
        registry_main(["register"])


def test_ctrl_c_at_the_question_is_one_line_and_changes_nothing(
    command_line: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupt(_prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", interrupt)
    assert registry_main(["promote", "v2", "--force", "testing"]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == "interrupted; `make models` shows what was done"
    assert command_line.store().read_pointer().version == "v1.0.0"

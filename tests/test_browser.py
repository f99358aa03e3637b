"""CI must run the baked project's dashboard test in a real browser, not skip it.

The project's tests/test_dashboard_browser.py drives headless Chromium; `make test` installs
it with apt-get when missing (the `browser` target). On a CI machine a missing browser
is a setup error, so this check fails there instead of letting the browser test skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def test_ci_has_a_browser_for_the_dashboard_test() -> None:
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
        pytest.skip("checked only on CI (CI=true); locally the browser test skips without one")
    found = [name for name in BROWSERS if shutil.which(name)]
    assert found, (
        "CI=true but no Chromium or Chrome on PATH: run the tests with `make test` (its "
        "`browser` target installs Chromium with apt-get as root), or apt-get install chromium"
    )

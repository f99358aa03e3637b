"""What a promotion vouches for, recorded in the prod pointer: each version's file hashes.

A version's metadata names the sha256 of its artifact, and the loader refuses a file that
does not match; but whoever can write the store can rewrite both. So at promotion (after
checking the files against the md5 their git tag's ``dvc.lock`` records) the registry
writes the artifact's and ONNX copy's sha256 into ``prod.json``, for the new version and
the earlier ones its history names. A server loads a version only if its metadata names
exactly those hashes. With ``{{ cookiecutter.module_name | upper }}_STORE_KEY`` set (the same secret for the registry and the
servers), the pointer also carries an HMAC-SHA256 of its content, and a server that has
the key refuses a pointer without a valid one: the hashes cannot be rewritten without it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from {{ cookiecutter.module_name }}.config import ENV_PREFIX
from {{ cookiecutter.module_name }}.prediction.loader import ModelLoadError

KEY_ENV = f"{ENV_PREFIX}_STORE_KEY"


def store_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The secret that seals the prod pointer, or None when it is not set."""
    return (os.environ if environ is None else environ).get(KEY_ENV) or None


def file_hashes(metadata: dict[str, Any]) -> dict[str, str]:
    """The sha256 of each file of a version that code may open: its artifact, and its
    ONNX copy when the metadata says it passed its parity gate (only then is it opened)."""
    hashes = {"artifact": str(metadata["artifact"]["sha256"])}
    onnx = metadata.get("onnx") or {}
    if onnx.get("status") == "passed":
        hashes["onnx"] = str(onnx.get("sha256"))
    return hashes


def seal(content: dict[str, Any], key: str) -> str:
    """HMAC-SHA256 (hex) of the pointer's content, as canonical JSON."""
    message = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def check_seal(content: dict[str, Any], signature: str | None, key: str, path: object) -> None:
    """Refuse a pointer whose seal is missing or was not made with ``key``."""
    if not signature or not hmac.compare_digest(seal(content, key), signature):
        raise ModelLoadError(
            f"the prod pointer {path} is not sealed with this server's {KEY_ENV}: it was "
            "written without the key or changed since; promote the version again with the "
            "key set (or set the key the registry used)"
        )


def check_vouched(version: str, metadata: dict[str, Any], vouched: dict[str, str]) -> None:
    """Refuse a version whose metadata names other files than the promotion vetted."""
    named = file_hashes(metadata)
    if named != vouched:
        changed = sorted(key for key in {*named, *vouched} if named.get(key) != vouched.get(key))
        raise ModelLoadError(
            f"version {version} in the store is not what was vetted at its promotion: its "
            f"metadata names another {' and '.join(changed)} than the prod pointer records. "
            "Someone changed the store; delete that version's folder and promote it again "
            "(the registry exports it from git and DVC)"
        )

"""The object store a shared model store lives in: the few calls it needs, and S3's.

Why boto3 and not fsspec/s3fs: a prod pointer that stays atomic needs S3's conditional
writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to replace), which boto3 sends
as plain arguments of ``put_object``; s3fs wraps the same botocore in an async layer
(aiobotocore) that pins botocore narrowly and has no conditional-write call of its own.
boto3 is an optional set (``requirements/store-s3.in``): imported only here, only when
``paths.registry`` is an ``s3://`` URL.

Credentials, region and endpoint come from boto3's usual sources: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE`` or an instance role, ``AWS_DEFAULT_REGION``,
and ``AWS_ENDPOINT_URL`` for another S3-compatible service (MinIO, moto in the tests).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlparse


class ObjectStoreError(RuntimeError):
    """The object store cannot be reached, or refused a call (credentials, bucket)."""


class PreconditionFailed(ObjectStoreError):
    """A conditional write lost: the object changed since it was read."""


@dataclass(frozen=True)
class Blob:
    """An object's bytes and its entity tag (changes whenever the object is replaced)."""

    data: bytes
    tag: str


class ObjectStore(Protocol):
    """What a shared model store needs of its storage: keys are ``/``-separated names
    relative to the store's root."""

    url: str

    def read(self, key: str) -> Blob | None:
        """The object's bytes and tag, or None if there is none."""

    def tag(self, key: str) -> str | None:
        """The object's tag (a cheap HEAD), or None if there is none."""

    def write(self, key: str, data: bytes, expected_tag: str | None = None) -> str:
        """Replace the object only if its tag is still ``expected_tag`` (``None``: only
        if it does not exist yet); PreconditionFailed otherwise. Returns the new tag."""

    def put(self, key: str, data: bytes) -> None:
        """Write the object unconditionally (a version's files: never replaced)."""

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""


def open_object_store(url: str) -> ObjectStore:
    """The object store of ``url`` (``s3://bucket/prefix``): one client per process (a
    client made before gunicorn forks its workers must not be shared with them)."""
    return _open(url, os.getpid())


@functools.lru_cache(maxsize=8)
def _open(url: str, pid: int) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ObjectStoreError(
            f"paths.registry {url!r} is not a supported store URL: use a folder or "
            "s3://<bucket>/<prefix>"
        )
    return S3Objects(url, parsed.netloc, parsed.path.strip("/"))


class S3Objects:
    """A prefix of an S3 bucket (or of any S3-compatible service), through boto3."""

    def __init__(self, url: str, bucket: str, prefix: str) -> None:
        try:
            import boto3  # optional: requirements/store-s3.in
            from botocore.config import Config
        except ImportError:
            raise ObjectStoreError(
                f"paths.registry is {url} but boto3 is not installed: run "
                "`make setup-store-s3` (pip install -r requirements/store-s3.txt)"
            ) from None
        self.url, self.bucket, self.prefix = url, bucket, prefix
        # Short timeouts: a worker checks the pointer on the request path.
        config = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2})
        self.client = boto3.client("s3", config=config)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> Blob | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return Blob(answer["Body"].read(), str(answer["ETag"]))
        except Exception as error:
            return self._absent_or_raise(error, key)

    def tag(self, key: str) -> str | None:
        try:
            return str(self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ETag"])
        except Exception as error:
            return self._absent_or_raise(error, key)

    def write(self, key: str, data: bytes, expected_tag: str | None = None) -> str:
        condition = {"IfMatch": expected_tag} if expected_tag else {"IfNoneMatch": "*"}
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, **condition
            )
        except Exception as error:
            if _code(error) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise PreconditionFailed(f"{self.url}/{key} changed meanwhile") from None
            raise self._failure(error, key) from None
        return str(answer["ETag"])

    def put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except Exception as error:
            raise self._failure(error, key) from None

    def keys(self, prefix: str) -> list[str]:
        start = len(self._key(""))
        found: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                found += [item["Key"][start:] for item in page.get("Contents", [])]
        except Exception as error:
            raise self._failure(error, prefix) from None
        return sorted(found)

    def _absent_or_raise(self, error: Exception, key: str) -> None:
        if _code(error) in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise self._failure(error, key) from None

    def _failure(self, error: Exception, key: str) -> ObjectStoreError:
        return ObjectStoreError(
            f"the model store {self.url} failed on {key} ({type(error).__name__}: {error}): "
            "check the bucket, AWS credentials and AWS_ENDPOINT_URL"
        )


def _code(error: Exception) -> str:
    """An S3 error's code (``NoSuchKey``, ``PreconditionFailed``, ...); '' for others."""
    response: Any = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))

"""The model store's layout, the same in a folder and in an object store::

prod.json                  {"version": "v2.0.0", "history": ["v1.0.0"]}
versions/v2.0.0/           the artifact and its metadata.json, exactly as registered
audit.jsonl                one JSON line per promotion or rollback
"""

from __future__ import annotations

import re

POINTER_FILE = "prod.json"
VERSIONS_FOLDER = "versions"
METADATA_FILE = "metadata.json"
AUDIT_FILE = "audit.jsonl"
PROD_STAGE = "prod"
# Registered versions are semantic versions (GTO's format): v1.0.0, v2.0.0, ...
VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+$")

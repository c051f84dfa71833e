"""The audit bundle's members: the one list its writer (ledger/bundle.py) and its verifier share."""

from __future__ import annotations

ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint"
CHECKPOINT_KEY = "checkpoint.key"
JWKS = "jwks.json"
MANIFEST = "manifest.json"
COVERED_MEMBERS = (ENTRIES, CHECKPOINT, CHECKPOINT_KEY, JWKS)  # the manifest gives their SHA-256
BUNDLE_MEMBERS = (*COVERED_MEMBERS, MANIFEST)

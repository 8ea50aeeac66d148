"""The frauds a coordinator has not settled on chain yet, kept beside its solve state.

A fraud caught at an epoch's end is written here before its settle transaction is sent, with
that transaction's hash once it is signed, and removed once the judge has ruled. A coordinator
killed meanwhile (or whose node was away) finds them when it resumes on the same data folder,
waits for a transaction already sent instead of sending a second, and settles the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from poqw.compute.verifier import FraudEvidence
from poqw.crypto.keystate import write_file_durably
from poqw.errors import ConfigError

__all__ = ["MAX_STATE_BYTES", "OpenFrauds", "load_open_frauds", "save_open_frauds"]

#: A state file larger than this is refused (a few hundred pieces of evidence fit).
MAX_STATE_BYTES = 64 << 20


@dataclass
class OpenFrauds:
    """Evidence not yet ruled on, and the settle transaction sent for each (by its bytes)."""

    evidence: list[FraudEvidence]
    sent: dict[bytes, bytes]


def save_open_frauds(path: Path, model_hash: bytes, open_frauds: OpenFrauds) -> None:
    items = []
    for evidence in open_frauds.evidence:
        data = evidence.to_bytes()
        tx = open_frauds.sent.get(data)
        items.append({"evidence": data.hex(), "tx": None if tx is None else tx.hex()})
    write_file_durably(path, json.dumps({"model": model_hash.hex(), "open": items}).encode())


def load_open_frauds(path: Path, model_hash: bytes) -> OpenFrauds:
    """What ``path`` holds for the model with ``model_hash`` (nothing when there is no file)."""
    if not path.exists():
        return OpenFrauds([], {})
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"over {MAX_STATE_BYTES} bytes")
        doc = json.loads(path.read_text())
        if doc["model"] != model_hash.hex():
            raise ConfigError(f"the unsettled frauds in {path} are for another model: remove "
                              "the data folder to start a new solve")
        evidence, sent = [], {}
        for item in doc["open"]:
            found = FraudEvidence.from_bytes(bytes.fromhex(item["evidence"]))
            evidence.append(found)
            if item["tx"] is not None:
                sent[found.to_bytes()] = bytes.fromhex(item["tx"])
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the unsettled frauds {path}: {exc}") from exc
    return OpenFrauds(evidence, sent)

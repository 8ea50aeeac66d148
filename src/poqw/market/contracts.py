"""The market's compiled contracts (ABI + bytecode shipped in ``poqw/market/artifacts``) and the
decoding of their revert data into the custom error's name, arguments and meaning.

An artifact is a JSON file per contract with at least ``abi`` and ``bytecode`` (a hex string, or
Foundry's ``{"object": ...}``); NatSpec notices (``userdoc``/``devdoc``), when present, give each
error its meaning (else ``meanings.ERROR_MEANINGS``). ``POQW_MARKET_ARTIFACTS`` points at another
folder of artifacts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from poqw.errors import ContractReverted, MarketError
from poqw.market.meanings import ERROR_MEANINGS

__all__ = ["ARTIFACTS_ENV", "CONTRACT_NAMES", "Artifact", "artifacts_dir", "decode_revert",
           "load_artifact"]

ARTIFACTS_ENV = "POQW_MARKET_ARTIFACTS"
CONTRACT_NAMES = ("ProblemMarket", "SolverRegistry", "PoQWToken", "WrappedPoQW",
                  "StrikeFraudJudge")
_MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
# Solidity's built-in reverts: Error(string) and Panic(uint256).
_ERROR_STRING = keccak(text="Error(string)")[:4]
_PANIC = keccak(text="Panic(uint256)")[:4]
_PANIC_CODES = {0x01: "an assertion failed", 0x11: "arithmetic overflowed or underflowed",
                0x12: "division by zero", 0x21: "an invalid enum value",
                0x32: "an array index out of bounds", 0x41: "out of memory"}


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its name, ABI, creation bytecode and error meanings."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    error_notices: dict[str, str]


def artifacts_dir() -> Path:
    """Where artifacts are read from: ``$POQW_MARKET_ARTIFACTS`` or the shipped folder."""
    override = os.environ.get(ARTIFACTS_ENV)
    if override:
        return Path(override)
    return Path(str(resources.files("poqw") / "market" / "artifacts"))


def _notices(doc: dict[str, Any]) -> dict[str, str]:
    """Error signature -> notice, from ``userdoc`` (else ``devdoc``) wherever the file keeps it."""
    found: dict[str, str] = {}
    metadata = doc.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    places = [doc, metadata.get("output", {}) if isinstance(metadata, dict) else {}]
    for place in places:
        for key, text_key in (("devdoc", "details"), ("userdoc", "notice")):
            errors = place.get(key, {}).get("errors", {}) if isinstance(place, dict) else {}
            for signature, entries in errors.items():
                for entry in entries if isinstance(entries, list) else []:
                    if isinstance(entry, dict) and isinstance(entry.get(text_key), str):
                        found[signature] = entry[text_key]
    return found


@cache
def _load(folder: str, name: str) -> Artifact:
    path = Path(folder) / f"{name}.json"
    try:
        if path.stat().st_size > _MAX_ARTIFACT_BYTES:
            raise MarketError(f"contract artifact {path} is larger than "
                              f"{_MAX_ARTIFACT_BYTES} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MarketError(f"no compiled contract {name} at {path}: build the contracts "
                          f"(make contracts) or set {ARTIFACTS_ENV}") from None
    except ValueError as exc:
        raise MarketError(f"contract artifact {path} is not JSON: {exc}") from None
    bytecode = doc.get("bytecode")
    if isinstance(bytecode, dict):
        bytecode = bytecode.get("object")
    if not isinstance(doc.get("abi"), list) or not isinstance(bytecode, str):
        raise MarketError(f"contract artifact {path} has no abi list or bytecode string")
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    return Artifact(name, doc["abi"], bytecode, _notices(doc))


def load_artifact(name: str) -> Artifact:
    """The compiled contract ``name`` (one of :data:`CONTRACT_NAMES`)."""
    return _load(str(artifacts_dir()), name)


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(_abi_type(i) for i in entry.get('inputs', []))})"


def _abi_type(param: dict[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param.get("components", [])) + ")" + kind[5:]
    return kind


def _humanize(name: str) -> str:
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


@cache
def _error_table(folder: str) -> dict[bytes, tuple[str, dict[str, Any], str]]:
    table: dict[bytes, tuple[str, dict[str, Any], str]] = {}
    for name in CONTRACT_NAMES:
        try:
            artifact = _load(folder, name)
        except MarketError:
            continue
        for entry in artifact.abi:
            if entry.get("type") == "error":
                signature = _signature(entry)
                table.setdefault(keccak(text=signature)[:4], (name, entry,
                                 artifact.error_notices.get(signature, "")))
    return table


def _show(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def decode_revert(data: bytes | str | None, fallback: str = "") -> ContractReverted:
    """A :class:`ContractReverted` for revert ``data`` (selector + ABI-encoded arguments),
    naming the custom error of any market contract; ``fallback`` describes data not decoded."""
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            data = bytes.fromhex(text)
        except ValueError:
            data = b""
    data = data or b""
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (reason,) = abi_decode(["string"], body)
        return ContractReverted("Error", {"reason": reason}, reason, "contract")
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], body)
        return ContractReverted("Panic", {"code": hex(code)},
                                _PANIC_CODES.get(code, "a Solidity panic"), "contract")
    known = _error_table(str(artifacts_dir())).get(selector)
    if known is None:
        detail = fallback or "no revert data" if not data else f"unknown error 0x{data.hex()}"
        return ContractReverted("UnknownError", {}, detail, "contract")
    contract, entry, notice = known
    inputs = entry.get("inputs", [])
    try:
        values = abi_decode([_abi_type(i) for i in inputs], body)
    except Exception:  # malformed arguments still have a name worth showing
        values = ()
    args = {i.get("name") or f"arg{k}": _show(v)
            for k, (i, v) in enumerate(zip(inputs, values, strict=False))}
    meaning = notice or ERROR_MEANINGS.get(entry["name"]) or _humanize(entry["name"])
    return ContractReverted(entry["name"], args, meaning, contract)

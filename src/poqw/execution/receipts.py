"""Receipts: conversion from py-evm's objects, the ordered-trie roots a header commits to, and
the storage encoding the node keeps per block.

The storage encoding is an RLP list with every field of :class:`Receipt` (the consensus
``encoded`` receipt among them), so a stored block's receipts come back exactly as executed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_utils.crypto import keccak

from poqw.errors import DecodeError

from .types import Log, Receipt

__all__ = [
    "MAX_STORED_RECEIPTS_BYTES",
    "decode_stored_receipts",
    "encode_stored_receipts",
    "logs_bloom",
    "ordered_trie_root",
    "receipt_from_evm",
]

MAX_STORED_RECEIPTS_BYTES = 64 * 1024 * 1024


def ordered_trie_root(items: Sequence[bytes]) -> bytes:
    """Root of the Merkle-Patricia trie mapping ``rlp(index)`` to each item (Yellow Paper,
    appendix D), built bottom-up from the sorted keys: one hash per node, no trie database."""
    if not items:
        return bytes(BLANK_ROOT_HASH)
    keyed = sorted((_nibbles(rlp.encode(i)), bytes(item)) for i, item in enumerate(items))
    return bytes(keccak(rlp.encode(_trie_node(keyed, 0))))


def _nibbles(key: bytes) -> tuple[int, ...]:
    return tuple(n for byte in key for n in (byte >> 4, byte & 15))


def _hex_prefix(nibbles: tuple[int, ...], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    padded = (flag + 1, *nibbles) if len(nibbles) % 2 else (flag, 0, *nibbles)
    return bytes(padded[i] * 16 + padded[i + 1] for i in range(0, len(padded), 2))


def _reference(node: Any) -> Any:
    """A child is embedded when its encoding is under 32 bytes, else referenced by hash."""
    encoded = rlp.encode(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _trie_node(items: list[tuple[tuple[int, ...], bytes]], depth: int) -> Any:
    """The node for sorted, distinct ``items`` that all share their first ``depth`` nibbles."""
    if len(items) == 1:
        key, value = items[0]
        return [_hex_prefix(key[depth:], True), value]
    first, last = items[0][0], items[-1][0]  # sorted: their common prefix is everyone's
    shared = 0
    while (
        depth + shared < min(len(first), len(last))
        and first[depth + shared] == last[depth + shared]
    ):
        shared += 1
    if shared:
        child = _trie_node(items, depth + shared)
        return [_hex_prefix(first[depth : depth + shared], False), _reference(child)]
    branch: list[Any] = [b""] * 17
    start = 0
    if len(first) == depth:  # a key ending here sorts first and sits in the value slot
        branch[16] = items[0][1]
        start = 1
    while start < len(items):
        nibble = items[start][0][depth]
        end = start
        while end < len(items) and items[end][0][depth] == nibble:
            end += 1
        branch[nibble] = _reference(_trie_node(items[start:end], depth + 1))
        start = end
    return branch


def logs_bloom(receipts: Sequence[Receipt]) -> bytes:
    """The block bloom: the bitwise OR of the receipts' 256-byte blooms."""
    acc = 0
    for receipt in receipts:
        acc |= int.from_bytes(receipt.bloom, "big")
    return acc.to_bytes(256, "big")


def receipt_from_evm(
    evm_receipt: Any,
    *,
    tx_hash: bytes,
    tx_index: int,
    sender: bytes,
    to: bytes | None,
    gas_used: int,
    effective_gas_price: int,
    contract_address: bytes | None,
) -> Receipt:
    """Wrap a py-evm receipt with the per-transaction facts a JSON-RPC receipt shows."""
    logs = tuple(
        Log(bytes(log.address), tuple(t.to_bytes(32, "big") for t in log.topics), bytes(log.data))
        for log in evm_receipt.logs
    )
    return Receipt(
        tx_hash=tx_hash,
        tx_index=tx_index,
        tx_type=int(evm_receipt.type_id or 0),
        sender=sender,
        to=to,
        status=evm_receipt.state_root == b"\x01",
        gas_used=gas_used,
        cumulative_gas_used=int(evm_receipt.gas_used),
        effective_gas_price=effective_gas_price,
        contract_address=contract_address,
        logs=logs,
        bloom=int(evm_receipt.bloom).to_bytes(256, "big"),
        encoded=bytes(evm_receipt.encode()),
    )


def _opt(value: bytes | None) -> bytes:
    return b"" if value is None else value


def encode_stored_receipts(receipts: Sequence[Receipt]) -> bytes:
    items = [
        [
            r.tx_hash,
            r.tx_index,
            r.tx_type,
            r.sender,
            _opt(r.to),
            int(r.status),
            r.gas_used,
            r.cumulative_gas_used,
            r.effective_gas_price,
            _opt(r.contract_address),
            [[log.address, list(log.topics), log.data] for log in r.logs],
            r.bloom,
            r.encoded,
        ]
        for r in receipts
    ]
    return bytes(rlp.encode(items))


def _int(b: Any) -> int:
    if not isinstance(b, bytes):
        raise DecodeError("stored receipt: expected an integer")
    return int.from_bytes(b, "big")


def _bytes(b: Any, length: int | None = None) -> bytes:
    if not isinstance(b, bytes) or (length is not None and len(b) != length):
        raise DecodeError("stored receipt: malformed byte field")
    return b


def decode_stored_receipts(data: bytes) -> tuple[Receipt, ...]:
    """Inverse of :func:`encode_stored_receipts`; raises :class:`DecodeError` on bad bytes."""
    if len(data) > MAX_STORED_RECEIPTS_BYTES:
        raise DecodeError(f"stored receipts of {len(data)} bytes exceed the limit")
    try:
        items = rlp.decode(data)
    except rlp.DecodingError as exc:
        raise DecodeError(f"stored receipts do not decode: {exc}") from exc
    if not isinstance(items, list):
        raise DecodeError("stored receipts: expected a list")
    out = []
    for item in items:
        if not isinstance(item, list) or len(item) != 13:
            raise DecodeError("stored receipt: expected 13 fields")
        to, created = _bytes(item[4]), _bytes(item[9])
        logs = tuple(
            Log(_bytes(a, 20), tuple(_bytes(t, 32) for t in topics), _bytes(d))
            for a, topics, d in item[10]
        )
        out.append(
            Receipt(
                tx_hash=_bytes(item[0], 32),
                tx_index=_int(item[1]),
                tx_type=_int(item[2]),
                sender=_bytes(item[3], 20),
                to=to or None,
                status=bool(_int(item[5])),
                gas_used=_int(item[6]),
                cumulative_gas_used=_int(item[7]),
                effective_gas_price=_int(item[8]),
                contract_address=created or None,
                logs=logs,
                bloom=_bytes(item[11], 256),
                encoded=_bytes(item[12]),
            )
        )
    return tuple(out)

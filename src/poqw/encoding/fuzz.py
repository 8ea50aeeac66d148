"""Seeded fuzzing of every decoder that reads a peer's bytes: only poqw errors may come out.

Inputs are structured mutations of valid encodings (an RLP tree with an item turned into a
list or a list into bytes, items dropped, repeated or multiplied by thousands, integers given
leading zeros, strings resized) and byte-level damage (flips, cuts, inserted prefixes), plus
plain random bytes. :func:`fuzz` runs one decoder over ``count`` inputs from a seeded
generator, so a failure is replayed by its seed and index; any exception that is not a
:class:`~poqw.errors.PoqwError` is a bug and is kept with the input that raised it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from poqw.encoding.rlp import Item, decode, encode
from poqw.errors import PoqwError

__all__ = ["FuzzReport", "Target", "decoder_targets", "fuzz", "mutations"]

Decoder = Callable[[bytes], object]


@dataclass(frozen=True)
class Target:
    """A decoder under test and the valid encodings its inputs are mutated from."""

    name: str
    decode: Decoder
    seeds: tuple[bytes, ...]


@dataclass
class FuzzReport:
    name: str
    inputs: int = 0
    accepted: int = 0
    seconds: float = 0.0
    foreign: list[tuple[bytes, str]] = field(default_factory=list)  # (input, repr(exception))

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


def fuzz(target: Target, count: int, seed: int) -> FuzzReport:
    """Feed ``count`` inputs to ``target.decode``; collect every foreign exception."""
    report = FuzzReport(target.name)
    start = time.perf_counter()
    for data in mutations(target.seeds, random.Random(seed), count):
        report.inputs += 1
        try:
            target.decode(data)
            report.accepted += 1
        except PoqwError:
            pass
        except Exception as exc:  # a bug: what the fuzzer is for
            report.foreign.append((data, repr(exc)))
    report.seconds = time.perf_counter() - start
    return report


def mutations(seeds: Sequence[bytes], rng: random.Random, count: int) -> Iterator[bytes]:
    """``count`` inputs: structured (60 %), byte-level (30 %) and random (10 %)."""
    trees = [_parse(s) for s in seeds]
    for _ in range(count):
        roll = rng.random()
        i = rng.randrange(len(seeds))
        if roll < 0.1:
            yield rng.randbytes(rng.randrange(0, 300))
        elif roll < 0.7 and trees[i] is not None:
            prefix, tree = trees[i]  # type: ignore[misc]
            data = prefix + encode(_mutate_tree(tree, rng))
            yield _damage(data, rng) if rng.random() < 0.2 else data
        else:
            yield _damage(seeds[i], rng)


def _parse(data: bytes) -> tuple[bytes, Any] | None:
    """(type prefix, RLP tree) of a seed; a typed transaction keeps its type byte apart."""
    for cut in (0, 1):
        try:
            return data[:cut], decode(data[cut:], Item(16), "seed")
        except PoqwError:
            continue
    return None


def _copy(tree: Any) -> Any:
    return [_copy(x) for x in tree] if isinstance(tree, list) else tree


def _nodes(tree: Any, out: list[tuple[list[Any], int]]) -> None:
    if isinstance(tree, list):
        for i, child in enumerate(tree):
            out.append((tree, i))
            _nodes(child, out)


def _mutate_tree(tree: Any, rng: random.Random) -> Any:
    root = [_copy(tree)]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        spots: list[tuple[list[Any], int]] = []
        _nodes(root, spots)
        if not spots:
            break
        parent, i = rng.choice(spots)
        parent[i] = _mutate_item(parent[i], rng)
        if rng.random() < 0.15 and parent and parent is not root:
            op = rng.randrange(3)
            if op == 0:
                del parent[rng.randrange(len(parent))]
            elif op == 1:
                parent.insert(rng.randrange(len(parent) + 1), _copy(rng.choice(parent)))
            else:
                parent.extend([[] if rng.random() < 0.5 else b""] * rng.choice((2, 100, 5000)))
    return root[0] if root else []


def _mutate_item(item: Any, rng: random.Random) -> Any:
    op = rng.randrange(8)
    if op == 0:  # an item where a list belongs, or a list where an item belongs
        return [item] if isinstance(item, bytes) else rng.randbytes(rng.randrange(0, 40))
    if op == 1:
        return []
    if op == 2 and isinstance(item, bytes):  # a non-canonical integer
        return b"\x00" + item
    if op == 3 and isinstance(item, bytes):
        return item[: rng.randrange(len(item) + 1)]
    if op == 4 and isinstance(item, bytes):
        return item + rng.randbytes(rng.randrange(1, 40))
    if op == 5:
        return rng.randbytes(rng.choice((0, 1, 8, 20, 32, 33, 65, 200)))
    if op == 6 and isinstance(item, list):
        return [x for x in item if rng.random() < 0.7] + [b"\x01"] * rng.randrange(3)
    return [[item]] if rng.random() < 0.5 else item


def _damage(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4))):
        op = rng.randrange(5)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1:
            del buf[rng.randrange(len(buf) + 1):]
        elif op == 2:
            buf += rng.randbytes(rng.randrange(1, 16))
        elif op == 3:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = bytes([rng.choice((0x80, 0xB8, 0xB9, 0xC0, 0xF8, 0xF9, 0xFF))])
        elif buf:
            at = rng.randrange(len(buf))
            buf[at:at + 1] = b""
    return bytes(buf)


def decoder_targets(block: bytes, chain_id: int = 77) -> list[Target]:
    """The decoders a peer's bytes reach, seeded with ``block`` (a valid devnet block),
    signed type-2 transactions, and one encoding of every peer message."""
    from poqw.chain import builtin_genesis, decode_block, decode_header
    from poqw.execution.transactions import decode_transaction
    from poqw.p2p.framing import FrameDecoder
    from poqw.p2p.messages import MessageType, decode_message

    limits = builtin_genesis("devnet").block_limits()
    header = encode(decode(block, Item(4), "seed")[0])
    messages = _message_seeds()

    def message(data: bytes) -> object:
        kind = MessageType(data[0] % len(MessageType) + 1) if data else MessageType.HEARTBEAT
        return decode_message(kind, data[1:])

    def frames(data: bytes) -> object:
        decoder = FrameDecoder(joined=bool(data) and data[-1] % 2 == 0)
        decoder.feed(data)
        while decoder.next_frame() is not None:
            pass
        return None

    return [
        Target("decode_block", lambda d: decode_block(d, limits), (block,)),
        Target("decode_header", decode_header, (header,)),
        Target("decode_transaction", lambda d: decode_transaction(d, chain_id),
               _transaction_seeds(chain_id)),
        Target("decode_message", message, tuple(bytes([t - 1]) + p for t, p in messages)),
        Target("FrameDecoder", frames, tuple(f for _, f in _frame_seeds())),
    ]


def _transaction_seeds(chain_id: int) -> tuple[bytes, ...]:
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    from eth_keys.datatypes import PrivateKey
    from eth_typing import Address

    key = PrivateKey(b"\x07" * 32)
    out = []
    lists: tuple[tuple[tuple[Address, tuple[int, ...]], ...], ...] = (
        (), ((Address(b"\x55" * 20), (1, 2)),),
        ((Address(b"\x66" * 20), ()), (Address(b"\x77" * 20), (3,))))
    for access in lists:
        for to, data in ((b"\x44" * 20, b""), (b"", b"\x60\x00\x60\x00"), (b"\x44" * 20, b"\x01")):
            unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
                chain_id, 3, 2, 20, 90000, Address(to), 1, data, access)
            out.append(bytes(unsigned.as_signed_transaction(key).encode()))
    return tuple(out)


def _message_seeds() -> list[tuple[int, bytes]]:
    return [(int(m.TYPE), m.encode()) for m in _sample_messages()]


def _frame_seeds() -> list[tuple[int, bytes]]:
    from poqw.p2p.framing import encode_frame

    return [(int(m.TYPE), encode_frame(m, i)) for i, m in enumerate(_sample_messages())]


def _sample_messages() -> list[Any]:
    from poqw.p2p import messages as m

    h = bytes(range(32))
    hello = m.Hello(b"\x02" + h[:32], 77, h, 5, h, 1000, "127.0.0.1", 9000, h, "poqw/0.1")
    return [
        m.JoinRequest(hello), m.JoinResponse(hello, bytes(65)), m.JoinConfirm(bytes(65)),
        m.Heartbeat(5, h, 1000), m.Gossip((h, h), (h,)), m.BlockRequest((h,)),
        m.BlockRequest((), 3, 2), m.BlockSubmit((b"\xc0" * 40,)), m.GetHeaders((h, h), 100),
        m.Headers((b"\xc1\x80", b"\xc0"), (b"\xc4\x83abc", b"\xc0")), m.StatusRequest(),
        m.StatusResponse(5, h, 9, 2),
        m.StatsRequest(), m.StatsResponse({"a": 1, "b": "x"}), m.PeersRequest(),
        m.Peers((m.PeerAddress(b"\x03" + h, "::1", 9),)), m.Error(1, "no"),
        m.Disconnect(0, "bye"), m.TxRequest((h,)), m.Transactions((b"\x02\xc0",)),
    ]

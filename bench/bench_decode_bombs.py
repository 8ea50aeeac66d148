"""Decoding bombs: time against input size, the bounded reader against pyrlp, in the same run.

Issue 10's bombs are RLP lists of empty items: a block-shaped list of ``n`` empty lists and a
type-2 transaction whose access list is ``n`` empty lists. poqw's decoders refuse them at the
first item over a limit their shape sets, so their time stays flat as ``n`` grows; pyrlp (what
the decoders used before) builds the whole tree first, in time that grows faster than ``n``.
Run: ``.venv/bin/python bench/bench_decode_bombs.py [--quick]``.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import contextlib
import time
from collections.abc import Callable

import rlp

from poqw.chain import builtin_genesis, decode_block
from poqw.errors import PoqwError
from poqw.execution import decode_transaction


def rlp_list(body: bytes) -> bytes:
    return bytes(rlp.codec.length_prefix(len(body), 0xC0)) + body


def block_bomb(n: int) -> bytes:
    return rlp_list(rlp_list(b"\x80" * 12) + rlp_list(b"\xc0" * n) + b"\xc0\x80\x80")


def transaction_bomb(n: int) -> bytes:
    head = b"".join(rlp.encode(x) for x in (77, 0, 1, 2, 21000, b"\x11" * 20, 0, b""))
    return b"\x02" + rlp_list(head + rlp_list(b"\xc0" * n) + b"\x80\x01\x01")


def seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(PoqwError, rlp.exceptions.RLPException):
        call()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs for pyrlp")
    add_threads_argument(parser)
    args = parser.parse_args()
    with bench_session("bench_decode_bombs" + (" quick" if args.quick else ""),
                       packages=("rlp",)):
        run(args.quick)


def run(quick: bool) -> None:
    limits = builtin_genesis("devnet").block_limits()
    block_sizes = (10_000, 40_000, 160_000) if quick else (40_000, 160_000, 640_000)
    tx_sizes = (10_000, 40_000, 120_000)  # a transaction is at most 128 KB
    print(f"{'bomb':<28} {'items':>9} {'poqw (ms)':>10} {'pyrlp (ms)':>11} {'ratio':>8}")
    cases = [("block of empty lists", block_bomb, block_sizes,
              lambda d: decode_block(d, limits)),
             ("tx access list of empties", transaction_bomb, tx_sizes,
              lambda d: decode_transaction(d, 77))]
    for name, make, sizes, decode in cases:
        for n in sizes:
            data = make(n)
            ours = min(seconds(lambda d=data, f=decode: f(d)) for _ in range(3))
            ref = seconds(lambda d=data: rlp.decode(d[1:] if d[0] == 2 else d, strict=True))
            print(f"{name:<28} {n:>9} {ours * 1e3:>10.2f} {ref * 1e3:>11.0f} "
                  f"{ref / ours:>7.0f}x", flush=True)
    data = block_bomb(2_000_000)  # the 2 MB block of the issue (pyrlp: minutes)
    print(f"{'block of empty lists':<28} {2_000_000:>9} "
          f"{seconds(lambda: decode_block(data, limits)) * 1e3:>10.2f} {'(skipped)':>11}")


if __name__ == "__main__":
    main()

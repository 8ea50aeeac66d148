"""Wire codec speed: poqw's strict RLP decoder against pyrlp, in the same run.

poqw.p2p keeps its own RLP codec because decoding untrusted frames is on the hot path of every
peer; this benchmark is the evidence. Run: ``.venv/bin/python bench/bench_p2p.py [--quick]``
(``--threads N``, default 1, pins BLAS/OpenMP/numba first; the header prints them and the load).
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import timeit

import rlp

from poqw.crypto.hashing import hash32
from poqw.p2p.codec import rlp_decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    add_threads_argument(parser)
    args = parser.parse_args()
    with bench_session("bench_p2p" + (" quick" if args.quick else ""), packages=("rlp",)):
        run(quick=args.quick)


def run(quick: bool) -> None:
    cases = {
        "gossip, 256 hashes": rlp.encode(
            [[hash32(b"bench", i.to_bytes(4, "big")) for i in range(256)], []]),
        "2000 headers x 512 B": rlp.encode([[bytes(range(256)) * 2 for _ in range(2000)]]),
        "8 blocks x 1 MiB": rlp.encode([[bytes(1 << 20)] * 8]),
    }
    print(f"{'payload':<22} {'poqw (us)':>10} {'pyrlp (us)':>11} {'ratio':>7}")
    repeat = 2 if quick else 5
    for name, data in cases.items():
        n = (200 if len(data) < 100_000 else 20) // (20 if quick else 1)
        assert rlp_decode(data) == rlp.decode(data, strict=True)
        ours = min(timeit.repeat(lambda d=data: rlp_decode(d), number=n, repeat=repeat)) / n
        # pyrlp's decode plus its canonical re-encode check: what strict decoding costs there
        ref = min(timeit.repeat(lambda d=data: rlp.encode(rlp.decode(d, strict=True)) == d,
                                number=n, repeat=repeat)) / n
        print(f"{name:<22} {ours * 1e6:>10.0f} {ref * 1e6:>11.0f} {ref / ours:>6.1f}x")


if __name__ == "__main__":
    main()

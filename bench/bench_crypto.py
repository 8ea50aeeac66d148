"""Benchmark poqw.crypto: XMSS tree building (fast vs reference), signing and verification.

Run: ``.venv/bin/python bench/bench_crypto.py [--height 10]``. There is no XMSS peer library in
the environment, so the XMSS figure is the ratio of the numba path to the hashlib reference
(same machine, same run); ECDSA is compared with eth-keys' pure-Python backend.
``--threads N`` (default 1) pins BLAS, OpenMP and numba before they load; ``--quick`` builds a
small tree. The header prints the machine, the threads in force and the load.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import os
import statistics
import time
from collections.abc import Callable

from eth_keys.backends.native.main import NativeECCBackend
from eth_keys.main import KeyAPI

from poqw.crypto.ecdsa import EcdsaPrivateKey, ecdsa_verify
from poqw.crypto.hybrid import HybridPrivateKey, HybridSigner, verify_hybrid
from poqw.crypto.mldsa import MlDsaPrivateKey
from poqw.crypto.xmss import XmssPrivateKey, build_tree_reference, xmss_sign, xmss_verify
from poqw.crypto.xmss_fast import build_tree_fast


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="height 6, one repeat")
    add_threads_argument(parser)
    args = parser.parse_args()
    height, repeat = (min(args.height, 6), 1) if args.quick else (args.height, args.repeat)
    with bench_session("bench_crypto" + (" quick" if args.quick else ""),
                       packages=("numba", "coincurve", "cryptography", "eth-keys")):
        run(height, repeat)


def run(height: int, repeat: int) -> None:
    seed = os.urandom(96)
    build_tree_fast(seed[:32], seed[64:], 1)  # compile (or load the numba cache) first
    fast = median_time(lambda: build_tree_fast(seed[:32], seed[64:], height), repeat)
    ref = median_time(lambda: build_tree_reference(seed[:32], seed[64:], height), 1)
    print(
        f"XMSS keygen h={height}: fast {fast:.2f} s, reference {ref:.2f} s, "
        f"ratio {ref / fast:.1f}x"
    )

    key = XmssPrivateKey.from_seed(seed, height)
    pub = key.public_key()
    digest = os.urandom(32)
    sig = xmss_sign(key, 1, digest)
    print(
        f"XMSS sign {median_time(lambda: xmss_sign(key, 1, digest), 20) * 1e3:.2f} ms, "
        f"verify {median_time(lambda: xmss_verify(pub, digest, sig), 20) * 1e3:.2f} ms, "
        f"signature {len(sig)} bytes"
    )

    ec = EcdsaPrivateKey.generate()
    esig = ec.sign(digest)
    native = KeyAPI(backend=NativeECCBackend)
    nkey = native.PrivateKey(ec.secret_bytes())
    ours = median_time(lambda: ec.sign(digest), 200)
    theirs = median_time(lambda: native.ecdsa_sign(digest, nkey), 20)
    print(
        f"ECDSA sign {ours * 1e6:.0f} us (eth-keys native {theirs * 1e6:.0f} us, "
        f"{theirs / ours:.0f}x), verify "
        f"{median_time(lambda: ecdsa_verify(ec.public_key(), digest, esig), 200) * 1e6:.0f} us"
    )

    ml = MlDsaPrivateKey.generate()
    msig = ml.sign(digest)
    mpub = ml.public_key()
    print(
        f"ML-DSA-44 sign {median_time(lambda: ml.sign(digest), 50) * 1e6:.0f} us, verify "
        f"{median_time(lambda: mpub.verify(digest, msig), 50) * 1e6:.0f} us"
    )

    hybrid = HybridSigner(HybridPrivateKey(ec, ml))
    hsig = hybrid.sign(b"header")
    print(
        f"hybrid ECDSA+ML-DSA-44 verify "
        f"{median_time(lambda: verify_hybrid(hybrid.public_key, b'header', hsig), 50) * 1e6:.0f}"
        f" us, signature {len(hsig.to_bytes())} bytes"
    )


if __name__ == "__main__":
    main()

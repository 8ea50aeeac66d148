"""The strike precompile's cost per unit of work (its gas price), and float-vs-integer agreement.

Run ``.venv/bin/python bench/bench_strike_precompile.py``. Part one times the integer re-run
(poqw.compute.exact_strike, what the precompile runs) on 3-regular MaxCut models of each size,
and through the EVM (an eth_call to 0x...504f5157) for one size: seconds per unit of
``strike_work``, the gas the precompile charges at ``GAS_PER_WORK`` and the gas per second that
price means on this machine. Part two re-runs ``--strikes`` random strikes with the integer
engine and the float kernels (reference, fast, exact MPS) and counts the float shots that differ
from the integer shots (each must be flagged ambiguous) and the flagged shots.
"""

from __future__ import annotations

from _common import add_threads_argument, bench_session

# isort: split
import argparse
import contextlib
import time

import numpy as np

from poqw.compute.exact_strike import ExactStrike
from poqw.compute.fixed_point import FixedPointStrike
from poqw.compute.strike_spec import StrikeRunner, StrikeSpec
from poqw.errors import ExecutionError
from poqw.execution import ExecutionEngine, GenesisAccount
from poqw.execution.strike_precompile import (
    GAS_PER_WORK,
    STRIKE_PRECOMPILE_ADDRESS,
    decode_strike_call,
    encode_strike_call,
    strike_call_gas,
)
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph


def spec_for(model: IsingModel, depth: int, shots: int) -> StrikeSpec:
    rng = np.random.default_rng(model.num_variables)
    return StrikeSpec.create(model.content_hash(), rng.uniform(-1, 1, depth),
                             rng.uniform(-1, 1, depth), shots, rng.bytes(32))


def best_of(repeats: int, fn: object) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def price(sizes: list[int], depth: int, repeats: int, evm_size: int) -> None:
    print(f"integer re-run, depth {depth}, 64 shots, best of {repeats}; "
          f"GAS_PER_WORK = {GAS_PER_WORK}")
    print(f"{'n':>3} {'work':>12} {'seconds':>9} {'ns/work':>8} {'gas':>13} {'Mgas/s':>7} "
          f"{'python-int s':>12}")
    for n in sizes:
        model = maxcut_to_ising(random_regular_graph(3, n, seed=n))
        spec = spec_for(model, depth, 64)
        engine = ExactStrike(model)
        seconds = best_of(repeats if n < 19 else 1, lambda e=engine, s=spec: e.draws(s))
        gas = strike_call_gas(decode_strike_call(encode_strike_call(model, spec, [0])))
        reference = ""
        if n <= 14:
            ref = FixedPointStrike(model)
            reference = f"{best_of(1, lambda r=ref, s=spec: r.run(s)):.3f}"
        work = engine.work(spec)
        print(f"{n:>3} {work:>12} {seconds:>9.4f} {1e9 * seconds / work:>8.1f} {gas:>13} "
              f"{gas / seconds / 1e6:>7.1f} {reference:>12}")
    model = maxcut_to_ising(random_regular_graph(3, evm_size, seed=evm_size))
    spec = spec_for(model, depth, 64)
    data = encode_strike_call(model, spec, list(range(64)))
    chain = ExecutionEngine(":memory:", 1, {})
    seconds = best_of(repeats, lambda: chain.call(chain.genesis_state_root,
                                                   STRIKE_PRECOMPILE_ADDRESS, data))
    gas = chain.estimate_gas(chain.genesis_state_root, STRIKE_PRECOMPILE_ADDRESS, data)
    print(f"through the EVM (eth_call, n={evm_size}, 64 shots asked): {seconds:.4f} s, "
          f"{gas} gas with the transaction's intrinsic gas")
    # py-evm's own opcodes for comparison: PUSH1 0; JUMPDEST; PUSH1 1; ADD; PUSH1 2; JUMP
    loop = b"\x42" * 20
    evm = ExecutionEngine(":memory:", 1, {loop: GenesisAccount(0, code=bytes.fromhex(
        "60005b600101600256"))})
    budget = 2_000_000
    t0 = time.perf_counter()
    with contextlib.suppress(ExecutionError):  # runs until it is out of gas
        evm.call(evm.genesis_state_root, loop, b"", gas=budget)
    seconds = time.perf_counter() - t0
    print(f"py-evm opcodes (an ADD/JUMP loop until out of gas): {budget / seconds / 1e6:.2f} "
          f"Mgas/s")


def agreement(strikes: int, shots: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    backends = ("reference", "fast", "mps")
    differ = {b: 0 for b in backends}
    flagged = total = 0
    t0 = time.perf_counter()
    for _ in range(strikes):
        n = int(rng.integers(3, 13))
        h = {i: float(rng.integers(-2, 3)) / 2 for i in range(n)}
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.4]
        model = IsingModel.from_dicts(h, {e: float(rng.choice([-1.0, -0.5, 0.5, 1.0]))
                                          for e in pairs}, num_variables=n)
        depth = int(rng.integers(1, 4))
        spec = StrikeSpec.create(model.content_hash(), rng.uniform(-np.pi, np.pi, depth),
                                 rng.uniform(-np.pi, np.pi, depth), shots, rng.bytes(32))
        draws = ExactStrike(model).draws(spec)
        for backend in backends:
            indices = StrikeRunner(model, backend).run(spec).indices
            wrong = indices != draws.indices
            differ[backend] += int(wrong.sum())
            if np.any(wrong & ~draws.ambiguous):
                print(f"UNFLAGGED DIFFERENCE: {backend} {spec}")
                return 1
        flagged += int(draws.ambiguous.sum())
        total += shots
    print(f"float vs integer: {strikes} strikes, {total} shots on each of {len(backends)} "
          f"float kernels in {time.perf_counter() - t0:.0f} s; differing shots "
          f"{differ} (every one flagged ambiguous); flagged ambiguous {flagged}; unflagged "
          f"differences 0")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,12,14,16,18,20")
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evm-size", type=int, default=14)
    parser.add_argument("--strikes", type=int, default=2000)
    parser.add_argument("--shots", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: sizes 10 and 12, one repeat, 20 strikes")
    add_threads_argument(parser)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.strikes = "10,12", 1, min(args.strikes, 20)
        args.evm_size = min(args.evm_size, 10)
    with bench_session("strike precompile", ["numba"]) as session:
        price([int(s) for s in args.sizes.split(",")], args.depth, args.repeats, args.evm_size)
        failed = agreement(args.strikes, args.shots, args.seed) if args.strikes else 0
        session.notes.append(f"{args.strikes} strikes, unflagged differences: {failed}")
        if failed:
            raise SystemExit(1)


if __name__ == "__main__":
    main()

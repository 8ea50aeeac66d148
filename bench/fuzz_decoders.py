"""Fuzz every decoder that reads a peer's bytes and count exceptions that are not poqw errors.

Inputs are structured mutations of valid encodings plus random bytes (see
:mod:`poqw.encoding.fuzz`); a run is replayed exactly by its ``--seed``. Prints, per decoder,
inputs, accepted inputs, inputs per second and the foreign-exception count (the goal is 0),
and the machine's load average, since the rate depends on it. Exits 1 if any foreign
exception was seen. Run: ``.venv/bin/python bench/fuzz_decoders.py --count 1000000``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from poqw.encoding.fuzz import decoder_targets, fuzz

VECTOR = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "chain" / "encoding.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs per decoder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="", help="run only the decoders whose name has this")
    args = parser.parse_args()
    block = bytes.fromhex(json.loads(VECTOR.read_text())["block"].removeprefix("0x"))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.count} inputs per decoder, seed {args.seed}, {os.cpu_count()} CPUs, "
          f"load average {load}")
    print(f"{'decoder':<20} {'inputs':>9} {'accepted':>9} {'seconds':>8} {'inputs/s':>9} "
          f"{'foreign':>8}")
    foreign = 0
    for index, target in enumerate(decoder_targets(block)):
        if args.only not in target.name:
            continue
        report = fuzz(target, args.count, args.seed * 1000 + index)
        foreign += len(report.foreign)
        print(f"{target.name:<20} {report.inputs:>9} {report.accepted:>9} "
              f"{report.seconds:>8.1f} {report.rate:>9.0f} {len(report.foreign):>8}", flush=True)
        for data, error in report.foreign[:3]:
            print(f"    {error} on {data[:64].hex()}{'...' if len(data) > 64 else ''}")
    return 1 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())

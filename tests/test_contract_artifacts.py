"""The contract artifacts shipped in poqw.market are built from today's sources.

Each artifact records a sha256 over the Solidity sources, the build script and the pinned solc
and OpenZeppelin versions (the formula of contracts/build); recomputing it here needs no npm, so
a source edit without `contracts/build` fails this test on any machine.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"
ARTIFACTS = ROOT / "src" / "poqw" / "market" / "artifacts"
SHIPPED = ["ProblemMarket", "SolverRegistry", "WrappedPoQW", "PoQWToken", "StrikeFraudJudge",
           "StrikeFraudQuorum",
           "ISolverRegistry"]


def source_hash(contracts: Path = CONTRACTS) -> str:
    """contracts/build's input hash: sorted (path, content) of every input, then tool versions."""
    files = [*(contracts / "src").rglob("*.sol"), contracts / "build"]
    digest = hashlib.sha256()
    for rel in sorted(f.relative_to(contracts).as_posix() for f in files):
        digest.update(rel.encode() + b"\0")
        digest.update((contracts / rel).read_bytes())
        digest.update(b"\0")
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for name in ("solc", "@openzeppelin/contracts"):
        version = lock["packages"][f"node_modules/{name}"]["version"]
        digest.update(f"{name}={version}\0".encode())
    return digest.hexdigest()


@pytest.mark.parametrize("name", SHIPPED)
def test_artifact_is_built_from_current_sources(name: str) -> None:
    artifact = json.loads((ARTIFACTS / f"{name}.json").read_text())
    assert artifact["contractName"] == name
    assert artifact["sourceHash"] == source_hash(), (
        f"{name}.json is stale against contracts/src: run contracts/build and commit the artifacts"
    )


@pytest.mark.parametrize("name", [n for n in SHIPPED if not n.startswith("I")])
def test_artifact_targets_prague_and_fits_eip170(name: str) -> None:
    artifact = json.loads((ARTIFACTS / f"{name}.json").read_text())
    assert artifact["settings"]["evmVersion"] == "prague"
    code = bytes.fromhex(artifact["deployedBytecode"][2:])
    assert 0 < len(code) <= 24_576, "EIP-170 limits deployed code to 24 KiB"


def test_stale_detection_sees_a_source_edit(tmp_path: Path) -> None:
    """The hash covers the sources: editing one constant of a contract changes it."""
    copy = tmp_path / "contracts"
    (copy / "src").mkdir(parents=True)
    (copy / "build").write_bytes((CONTRACTS / "build").read_bytes())
    for f in (CONTRACTS / "src").rglob("*.sol"):
        target = copy / f.relative_to(CONTRACTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    assert source_hash(copy) == source_hash()
    market = copy / "src" / "ProblemMarket.sol"
    market.write_text(market.read_text().replace("MAX_FEE_BPS = 1_000", "MAX_FEE_BPS = 2_000"))
    assert source_hash(copy) != source_hash()

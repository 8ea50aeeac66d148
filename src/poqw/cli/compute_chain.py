"""The chain options of ``poqw coordinator``: where the registry and the fraud judge are, and
the accounts that report frauds and pay for verified work.

Addresses come from ``--registry``/``--judge`` or from a market deployment file
(``--deployment``, with the ``judge`` that ``poqw market deploy-judge`` adds); keys from key
files (a poqw key file or an Ethereum keystore, passphrase from ``--passphrase-file`` or
POQW_PASSPHRASE), never from the command line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poqw.errors import ConfigError

if TYPE_CHECKING:
    from poqw.compute.coordinator import Coordinator
    from poqw.compute.onchain import ChainSettlement
    from poqw.compute.stake import StakeCheck

__all__ = ["ChainOptions", "chain_summary", "resolve_chain"]


@dataclass(frozen=True)
class ChainOptions:
    """The coordinator's chain flags as given."""

    rpc: str | None = None
    registry: str | None = None
    judge: str | None = None
    deployment: Path | None = None
    reporter_key: Path | None = None
    payer_key: Path | None = None
    passphrase_file: Path | None = None


def _from_deployment(path: Path) -> tuple[str, str | None]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return str(doc["registry"]), (str(doc["judge"]) if doc.get("judge") else None)
    except OSError as exc:
        raise ConfigError(f"cannot read the deployment file {path}: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"the deployment file {path} is malformed: {exc!r}") from None


def resolve_chain(opts: ChainOptions) -> tuple[StakeCheck, ChainSettlement | None]:
    """The stake check and the on-chain settlement (None without a judge) the flags ask for,
    or a :class:`ConfigError` naming the flag that is missing or wrong."""
    from poqw.cli.keys import read_passphrase
    from poqw.compute.onchain import ChainSettlement
    from poqw.compute.stake import AllowAll, RegistryStakeCheck
    from poqw.market.accounts import load_account

    registry, judge = opts.registry, opts.judge
    if opts.deployment is not None:
        known_registry, known_judge = _from_deployment(opts.deployment)
        registry, judge = registry or known_registry, judge or known_judge
    if (registry or judge) and opts.rpc is None:
        raise ConfigError("a registry or judge needs the chain's JSON-RPC: give --rpc URL")
    if (opts.reporter_key or opts.payer_key) and judge is None:
        raise ConfigError("--reporter-key and --payer-key need the fraud judge: give --judge "
                          "ADDRESS or a --deployment file with one (poqw market deploy-judge)")
    if judge is not None and opts.reporter_key is None:
        raise ConfigError("with a judge, frauds are settled on chain: give --reporter-key FILE")
    settlement = None
    if judge is not None and opts.reporter_key is not None:
        assert opts.rpc is not None
        asked: list[str] = []

        def passphrase() -> str:  # asked once, and only for an encrypted key file
            if not asked:
                asked.append(read_passphrase(opts.passphrase_file, confirm=False))
            return asked[0]

        reporter = load_account(opts.reporter_key, passphrase)
        payer = None if opts.payer_key is None else load_account(opts.payer_key, passphrase)
        settlement = ChainSettlement(opts.rpc, judge, reporter, payer)
        if registry is not None and registry.lower() != settlement.registry_address.lower():
            raise ConfigError(f"the judge {judge} slashes through registry "
                              f"{settlement.registry_address}, not {registry}")
        registry = settlement.registry_address
    if registry is None:
        if opts.rpc is not None:
            raise ConfigError("--rpc needs --registry, --judge or --deployment")
        return AllowAll(), None
    assert opts.rpc is not None
    return RegistryStakeCheck(opts.rpc, registry), settlement


def chain_summary(chain: ChainSettlement, coordinator: Coordinator) -> dict[str, Any]:
    """What the answer says about the chain: settlements, and the transfers made."""
    ledger = coordinator.ledger
    return {"chain": {"rpc": chain.rpc_url, "judge": str(chain.judge.address),
                      "registry": chain.registry_address,
                      "settlements": [s.to_dict() for s in chain.settlements],
                      "paid_on_chain": {} if ledger is None else ledger.paid_on_chain(),
                      "transfers": [] if ledger is None else
                      [{"payee": t.payee, "amount": t.amount, "tx": t.tx, "state": t.state}
                       for t in ledger.transfers]}}

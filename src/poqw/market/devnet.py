"""The market on a local devnet: deployed on first start through node 0's JSON-RPC with the
devnet's funded dev key, its addresses kept in ``market.json`` in the run directory.

The dev key is anvil's well-known first account, which the built-in devnet genesis funds: it is
public on purpose and only fit for local networks. :class:`MarketDeployer` does the deployment in
a thread owned by the devnet's watch loop, which asks it for news on every round.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from poqw.errors import ContractReverted, MarketError
from poqw.market.client import Deployment, connect
from poqw.market.deploy import TOKEN, MarketSettings, deploy_market

__all__ = ["DEPLOYMENT_FILE", "DEV_KEY", "DEV_KEY_FILE", "MarketDeployer", "dev_account",
           "devnet_settings", "ensure_market", "ensure_market_retrying", "write_dev_key"]

# anvil's first default account ("test test ... junk"), funded in the devnet genesis alloc
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEPLOYMENT_FILE = "market.json"
DEV_KEY_FILE = "dev-key.json"  # an Ethereum keystore of DEV_KEY; passphrase in dev-key.pass
DEV_PASSPHRASE = "devnet"


def dev_account() -> LocalAccount:
    account: LocalAccount = Account.from_key(DEV_KEY)
    return account


def write_dev_key(folder: Path) -> Path:
    """The dev key as an Ethereum keystore file in ``folder`` (passphrase beside it), so
    ``poqw market ... --key`` can sign with it; kept when it exists. The key is public anyway:
    the cheap key derivation only spares the user's wait."""
    path = folder / DEV_KEY_FILE
    if not path.exists():
        doc = Account.encrypt(bytes.fromhex(DEV_KEY[2:]), DEV_PASSPHRASE, kdf="pbkdf2",
                              iterations=1 << 12)
        path.with_suffix(".pass").write_text(DEV_PASSPHRASE + "\n", encoding="utf-8")
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def devnet_settings() -> MarketSettings:
    """A devnet market: the wrapped coin as token, small stakes, a one-minute unbonding."""
    return MarketSettings(token_kind="WrappedPoQW", min_stake=10 * TOKEN,
                          slash_amount=10 * TOKEN, unbonding_delay=60)


def ensure_market(rpc_url: str, folder: Path, account: LocalAccount | None = None,
                  settings: MarketSettings | None = None) -> tuple[Deployment, bool]:
    """The market of ``folder/market.json`` when it is deployed on the chain at ``rpc_url``;
    otherwise deploy one as ``account`` (default: the dev key) and write that file. Returns the
    deployment and whether it is new."""
    w3 = connect(rpc_url)
    path = folder / DEPLOYMENT_FILE
    if path.exists():
        known = Deployment.load(path)
        if known.chain_id == w3.eth.chain_id and \
                w3.eth.get_code(Web3.to_checksum_address(known.market)):
            return known, False
    signer = account or dev_account()
    if w3.eth.get_balance(signer.address) == 0:
        raise MarketError(f"the deployer {signer.address} has no coins on this chain (the "
                          "built-in devnet genesis funds it; a custom genesis must too)")
    deployment = deploy_market(w3, signer, settings or devnet_settings())
    deployment.save(path)
    if account is None:
        write_dev_key(folder)
    return deployment, True


def ensure_market_retrying(rpc_url: str, folder: Path, attempts: int = 5,
                           pause: float = 3.0) -> Deployment:
    """:func:`ensure_market` with the dev key, tried ``attempts`` times: a node that has just
    started may drop a connection (seen under load: "connection reset by peer"). A contract's
    refusal is final; the last other error is raised, naming the attempts."""
    for attempt in range(1, attempts + 1):
        try:
            return ensure_market(rpc_url, folder)[0]
        except ContractReverted:
            raise
        except (MarketError, OSError) as exc:  # requests' connection errors are OSErrors
            if attempt == attempts:
                raise MarketError(f"deploying the market through {rpc_url} failed {attempts} "
                                  f"times; the last time: {exc}") from None
            time.sleep(pause)
    raise AssertionError("unreachable")


class MarketDeployer:
    """Deploys the devnet's market in a background thread once node 0 serves JSON-RPC.

    :meth:`step` starts the thread when given node 0's URL and returns one line of news when
    the deployment ends (the addresses, or the error: the devnet goes on without a market)."""

    def __init__(self, folder: Path, attempts: int = 5, pause: float = 3.0) -> None:
        self.folder = folder
        self.attempts = attempts
        self.pause = pause
        self.deployment: Deployment | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._reported = False

    def _run(self, rpc_url: str) -> None:
        try:
            self.deployment = ensure_market_retrying(rpc_url, self.folder, self.attempts,
                                                     self.pause)
        except Exception as exc:  # handed to the owner's watch loop, which reports it once
            self.error = f"{type(exc).__name__}: {exc}"

    def step(self, rpc_url: str | None) -> str | None:
        """Start when ``rpc_url`` is known; one line of news when done, else None."""
        if self._thread is None:
            if rpc_url:
                self._thread = threading.Thread(target=self._run, args=(rpc_url,),
                                                name="devnet-market", daemon=True)
                self._thread.start()
            return None
        if self._thread.is_alive() or self._reported:
            return None
        self._reported = True
        if self.deployment is None:
            return f"market not deployed ({self.error}); the devnet runs without it"
        d = self.deployment
        return (f"market deployed through {rpc_url}: ProblemMarket {d.market}, SolverRegistry "
                f"{d.registry}, {d.token_kind} {d.token}; deployment file "
                f"{self.folder / DEPLOYMENT_FILE}; the dev key as a keystore: "
                f"{self.folder / DEV_KEY_FILE} (passphrase file dev-key.pass beside it); "
                f"the explorer shows it at {rpc_url}/#/market/{d.market}")

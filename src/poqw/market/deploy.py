"""Deploy the market: a payment token, the solver registry and the market, wired together.

On the PoQW chain the token is ``WrappedPoQW`` (the native coin, wrapped); on other EVM chains a
fresh ``PoQWToken`` whose whole supply goes to the deployer. The registry grants the market its
recording and slashing roles; :func:`deploy_market` returns the :class:`Deployment` to save.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3

from poqw.errors import MarketError
from poqw.market.client import MARKET_ROLE, SLASHER_ROLE, Deployment, MarketClient
from poqw.market.contracts import load_artifact

__all__ = ["MarketSettings", "deploy_market"]

TOKEN = 10**18


@dataclass(frozen=True)
class MarketSettings:
    """The constructor arguments of a deployment (amounts in base units)."""

    token_kind: str = "PoQWToken"
    supply: int = 1_000_000_000 * TOKEN
    min_stake: int = 100 * TOKEN
    unbonding_delay: int = 7 * 24 * 3600
    slash_amount: int = 100 * TOKEN
    reporter_share_bps: int = 5_000
    fee_bps: int = 250
    treasury: str | None = None


def _deploy(client: MarketClient, name: str, *args: object) -> str:
    artifact = load_artifact(name)
    factory = client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = client._send(factory.constructor(*args))
    address = receipt["contractAddress"]
    if not address:
        raise MarketError(f"deploying {name} created no contract")
    return str(address)


def deploy_market(w3: Web3, account: LocalAccount,
                  settings: MarketSettings = MarketSettings()) -> Deployment:
    """Deploy token, registry and market as ``account``; the deployer is admin and treasury
    (and fee recipient) unless ``settings.treasury`` says otherwise."""
    if settings.token_kind not in ("PoQWToken", "WrappedPoQW"):
        raise MarketError(f"token kind must be PoQWToken or WrappedPoQW, got "
                          f"{settings.token_kind!r}")
    chain_id = int(w3.eth.chain_id)
    start = int(w3.eth.block_number)
    me = account.address
    treasury = Web3.to_checksum_address(settings.treasury or me)
    # A client with placeholder addresses only signs and sends the deployments.
    placeholder = Deployment(chain_id, me, me, me, settings.token_kind, start)
    bootstrap = MarketClient(w3, placeholder, account)
    if settings.token_kind == "PoQWToken":
        token = _deploy(bootstrap, "PoQWToken", me, settings.supply)
    else:
        token = _deploy(bootstrap, "WrappedPoQW")
    registry = _deploy(bootstrap, "SolverRegistry", token, settings.min_stake,
                       settings.unbonding_delay, settings.slash_amount,
                       settings.reporter_share_bps, treasury, me)
    market = _deploy(bootstrap, "ProblemMarket", token, registry, treasury, settings.fee_bps)
    deployment = Deployment(chain_id, token, registry, market, settings.token_kind, start)
    client = MarketClient(w3, deployment, account)
    client._send(client.registry.functions.grantRole(MARKET_ROLE, market))
    client._send(client.registry.functions.grantRole(SLASHER_ROLE, market))
    return deployment

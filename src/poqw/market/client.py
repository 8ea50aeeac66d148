"""The problem market over JSON-RPC: deploy the contracts, post, stake, commit, reveal, settle.

:class:`MarketClient` wraps the three deployed contracts (payment token, solver registry,
market) behind one object that signs transactions locally with an ``eth_account`` account, so
it works against a PoQW node and any EVM node (anvil) alike. Every refusal comes back as a
:class:`ContractReverted` naming the contract's custom error; amounts are in the token's base
units (18 decimals).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.logs import DISCARD

from poqw.errors import ContractReverted, MarketError
from poqw.market.contracts import decode_revert, load_artifact
from poqw.market.encoding import ChainProblem, commitment_digest
from poqw.market.meanings import ERROR_MEANINGS

__all__ = ["MARKET_ROLE", "SLASHER_ROLE", "CommitmentInfo", "Deployment", "MarketClient",
           "ProblemInfo", "connect", "eip1559_fees", "wait_mined"]

MARKET_ROLE = Web3.keccak(text="poqw.registry.market")
SLASHER_ROLE = Web3.keccak(text="poqw.registry.slasher")
PROBLEM_STATUS = ("None", "Open", "Settled", "Cancelled")
LIMIT_EXCEEDED = -32005  # geth, Infura and the PoQW node: a log query over too many blocks
COMMIT_STATE = ("None", "Committed", "Revealed", "Mismatched", "Slashed")


@dataclass(frozen=True)
class Deployment:
    """Where the market lives: chain id and the three contract addresses (a JSON file)."""

    chain_id: int
    token: str
    registry: str
    market: str
    token_kind: str
    block: int

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__})
        except FileNotFoundError:
            raise MarketError(f"no market deployment file {path}: run `poqw market deploy` "
                              "first or pass --deployment") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise MarketError(f"market deployment file {path} is malformed: {exc}") from None


@dataclass(frozen=True)
class ProblemInfo:
    """A posted problem as the market stores it (energies in chain units)."""

    id: int
    customer: str
    bounty: int
    target: int
    commit_deadline: int
    reveal_deadline: int
    num_variables: int
    status: str
    best_solver: str | None
    best_energy: int | None
    num_commits: int
    num_revealed: int


@dataclass(frozen=True)
class CommitmentInfo:
    """One solver's commitment to a problem."""

    solver: str
    claimed_energy: int
    revealed_energy: int | None
    index: int
    state: str


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A ``Web3`` on ``rpc_url``, or a :class:`MarketError` when no node answers there."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        w3.eth.chain_id  # noqa: B018 - the cheapest question that proves a node answers
    except Exception as exc:
        raise MarketError(f"no Ethereum JSON-RPC node answers at {rpc_url}: "
                          f"{type(exc).__name__}: {exc}") from None
    return w3


def eip1559_fees(w3: Web3) -> tuple[int, int]:
    """(max priority fee, max fee): the node's tip, and twice the latest base fee plus it."""
    base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
    tip = int(w3.eth.max_priority_fee)
    return tip, 2 * base + tip


def wait_mined(w3: Web3, tx_hash: Any, timeout: float) -> Any:
    """The receipt of ``tx_hash``, or a :class:`MarketError` when it is not mined in time."""
    try:
        return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    except TimeExhausted:
        raise MarketError(f"transaction 0x{bytes(tx_hash).hex()} not mined within "
                          f"{timeout:g} s") from None


class MarketClient:
    """The deployed market on one node, acting as ``account`` (read-only when None)."""

    def __init__(self, w3: Web3, deployment: Deployment, account: LocalAccount | None = None,
                 *, receipt_timeout: float = 120.0, log_range: int = 2_000) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.account = account
        self.receipt_timeout = receipt_timeout
        # Blocks per eth_getLogs query: nodes refuse wide ranges (the PoQW node and geth at
        # 10,000 blocks, with -32005); halved whenever a node says it is still too wide.
        self.log_range = log_range
        self._posted: dict[int, tuple[ChainProblem, int]] = {}
        token_kind = deployment.token_kind
        self.token = w3.eth.contract(address=Web3.to_checksum_address(deployment.token),
                                     abi=load_artifact(token_kind).abi)
        self.registry = w3.eth.contract(address=Web3.to_checksum_address(deployment.registry),
                                        abi=load_artifact("SolverRegistry").abi)
        self.market = w3.eth.contract(address=Web3.to_checksum_address(deployment.market),
                                      abi=load_artifact("ProblemMarket").abi)

    # ---- transactions ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        if self.account is None:
            raise MarketError("this command signs a transaction: give a key (--key)")
        return str(self.account.address)

    def _send(self, call: Any, value: int = 0) -> Any:
        """Simulate ``call`` (a contract function or constructor), sign, send, wait; a revert
        at any step becomes the contract's named error."""
        sender = Web3.to_checksum_address(self.address)
        assert self.account is not None
        params: dict[str, Any] = {"from": sender, "chainId": self.deployment.chain_id,
                                  "nonce": self.w3.eth.get_transaction_count(sender, "pending")}
        if value:
            params["value"] = value
        try:
            tx = call.build_transaction(params)
        except ContractLogicError as exc:
            raise decode_revert(exc.data if isinstance(exc.data, str) else None,
                                str(exc)) from None
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = wait_mined(self.w3, tx_hash, self.receipt_timeout)
        if receipt["status"] != 1:
            # Replay it to learn why: first on the state its block left (a transaction earlier
            # in the same block, such as a rival's settle, may be what made it revert), then on
            # the state before its block.
            replay: Any = {k: v for k, v in tx.items() if k != "nonce"}
            for height in (receipt["blockNumber"], receipt["blockNumber"] - 1):
                try:
                    self.w3.eth.call(replay, height)
                except ContractLogicError as exc:
                    raise decode_revert(exc.data if isinstance(exc.data, str) else None,
                                        str(exc)) from None
            raise MarketError(f"transaction 0x{bytes(tx_hash).hex()} failed (out of gas?)")
        return receipt

    def _events(self, receipt: Any, event: str) -> list[Any]:
        return list(getattr(self.market.events, event)().process_receipt(receipt,
                                                                         errors=DISCARD))

    # ---- customers --------------------------------------------------------------------------

    def approve(self, spender: str, amount: int) -> None:
        """Let ``spender`` take ``amount`` tokens, when it may not already."""
        if self.token.functions.allowance(self.address, spender).call() < amount:
            self._send(self.token.functions.approve(spender, amount))

    def post(self, problem: ChainProblem, bounty: int, target: int, commit_deadline: int,
             reveal_window: int) -> int:
        """Escrow ``bounty`` and post ``problem``; returns its id."""
        self.approve(self.market.address, bounty)
        receipt = self._send(self.market.functions.post(
            problem.num_variables, problem.fields, problem.couplings, bounty, target,
            commit_deadline, reveal_window))
        return int(self._events(receipt, "ProblemPosted")[0]["args"]["problemId"])

    def cancel(self, problem_id: int) -> None:
        self._send(self.market.functions.cancel(problem_id))

    def settle(self, problem_id: int) -> dict[str, Any]:
        """Close a problem after its reveal window: who was paid what."""
        receipt = self._send(self.market.functions.settle(problem_id))
        for event in self._events(receipt, "ProblemSettled"):
            a = event["args"]
            return {"outcome": "paid", "winner": a["winner"], "energy": a["energy"],
                    "reward": a["reward"], "fee": a["fee"]}
        a = self._events(receipt, "ProblemRefunded")[0]["args"]
        return {"outcome": "refunded", "customer": a["customer"], "amount": a["amount"]}

    def withdraw(self) -> int:
        """Take everything the market credited to this account (rewards, refunds, fees)."""
        amount = int(self.market.functions.claimable(self.address).call())
        self._send(self.market.functions.withdraw())
        return amount

    def wrap(self, amount: int) -> None:
        """Turn ``amount`` of the native coin into payment tokens (WrappedPoQW deployments)."""
        if self.deployment.token_kind != "WrappedPoQW":
            raise MarketError(f"this market pays in {self.deployment.token_kind}, which wraps "
                              "no coin; get tokens by transfer instead")
        self._send(self.token.functions.deposit(), value=amount)

    def transfer(self, to: str, amount: int) -> None:
        self._send(self.token.functions.transfer(Web3.to_checksum_address(to), amount))

    def send_coin(self, to: str, amount: int) -> None:
        """Send ``amount`` of the chain's native coin (gas money for a new solver, say)."""
        assert self.account is not None, self.address
        sender = Web3.to_checksum_address(self.address)
        tx: dict[str, Any] = {"from": sender, "to": Web3.to_checksum_address(to),
                              "value": amount, "chainId": self.deployment.chain_id,
                              "nonce": self.w3.eth.get_transaction_count(sender, "pending")}
        tx["gas"] = self.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        tx["maxPriorityFeePerGas"], tx["maxFeePerGas"] = eip1559_fees(self.w3)
        del tx["from"]
        tx_hash = self.w3.eth.send_raw_transaction(
            self.account.sign_transaction(tx).raw_transaction)
        receipt = wait_mined(self.w3, tx_hash, self.receipt_timeout)
        if receipt["status"] != 1:
            raise MarketError(f"sending {amount} coins to {to} failed")

    # ---- solvers ----------------------------------------------------------------------------

    def stake(self, amount: int) -> None:
        self.approve(self.registry.address, amount)
        self._send(self.registry.functions.stake(amount))

    def request_unbond(self, amount: int) -> None:
        self._send(self.registry.functions.requestUnbond(amount))

    def withdraw_stake(self) -> None:
        self._send(self.registry.functions.withdrawStake())

    def commit(self, problem_id: int, spins: bytes, salt: bytes, claimed_energy: int) -> None:
        digest = commitment_digest(problem_id, spins, salt, self.address)
        self._send(self.market.functions.commit(problem_id, digest, claimed_energy))

    def reveal(self, problem_id: int, spins: bytes, salt: bytes, problem: ChainProblem) -> int:
        """Open this account's commitment; returns the energy the contract computed."""
        receipt = self._send(self.market.functions.reveal(problem_id, spins, salt,
                                                          problem.fields, problem.couplings))
        return int(self._events(receipt, "Revealed")[0]["args"]["energy"])

    def report(self, problem_id: int, solver: str) -> int:
        """Report a slashable commitment; returns the amount slashed."""
        receipt = self._send(self.market.functions.reportSolver(
            problem_id, Web3.to_checksum_address(solver)))
        return int(self._events(receipt, "SolverReported")[0]["args"]["slashed"])

    # ---- reading ----------------------------------------------------------------------------

    def chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def problem_count(self) -> int:
        return int(self.market.functions.problemCount().call())

    def problem(self, problem_id: int) -> ProblemInfo:
        p = self.market.functions.getProblem(problem_id).call()
        (customer, deadline, window, bounty, target, n, status, _terms, best, best_energy,
         _index, commits, revealed) = p
        if status == 0:
            raise ContractReverted("UnknownProblem", {"problemId": problem_id},
                                   ERROR_MEANINGS["UnknownProblem"], "ProblemMarket")
        has_best = best != "0x0000000000000000000000000000000000000000"
        return ProblemInfo(problem_id, customer, int(bounty), int(target), int(deadline),
                           int(deadline) + int(window), int(n), PROBLEM_STATUS[status],
                           best if has_best else None, int(best_energy) if has_best else None,
                           int(commits), int(revealed))

    def problems(self) -> list[ProblemInfo]:
        return [self.problem(i) for i in range(1, self.problem_count() + 1)]

    def _logs(self, event: Any, problem_id: int, start: int, end: int,
              newest_first: bool = False) -> list[Any]:
        """``event`` logs of ``problem_id`` in blocks ``start..end``, queried in windows of
        at most :attr:`log_range` blocks (newest window first when asked; stops at the first
        window with logs then)."""
        found: list[Any] = []
        low, high = start, end
        while low <= high:
            width = max(1, self.log_range)
            lo, hi = (max(low, high - width + 1), high) if newest_first else \
                (low, min(high, low + width - 1))
            try:
                logs = event.get_logs(from_block=lo, to_block=hi,
                                      argument_filters={"problemId": problem_id})
            except Web3RPCError as exc:
                error = (exc.rpc_response or {}).get("error")
                code = error.get("code") if isinstance(error, dict) else None
                if code != LIMIT_EXCEEDED or width == 1:
                    raise MarketError(f"eth_getLogs over blocks {lo}..{hi}: {exc}") from None
                self.log_range = width // 2
                continue
            found.extend(logs)
            if newest_first:
                if logs:
                    break
                high = lo - 1
            else:
                low = hi + 1
        return found

    def _posting(self, problem_id: int) -> tuple[ChainProblem, int]:
        """The problem's terms and the block that posted it, from its ``ProblemPosted`` event
        (searched newest first: a solver asks about problems just posted)."""
        if problem_id not in self._posted:
            logs = self._logs(self.market.events.ProblemPosted, problem_id,
                              self.deployment.block, int(self.w3.eth.block_number),
                              newest_first=True)
            if not logs:
                raise MarketError(f"no ProblemPosted event for problem {problem_id}")
            a = logs[0]["args"]
            terms = ChainProblem(int(a["numVariables"]), bytes(a["fields"]),
                                 bytes(a["couplings"]))
            self._posted[problem_id] = (terms, int(logs[0]["blockNumber"]))
        return self._posted[problem_id]

    def terms(self, problem_id: int) -> ChainProblem:
        """The problem's terms, read from its ``ProblemPosted`` event."""
        return self._posting(problem_id)[0]

    def commitments(self, problem_id: int) -> list[CommitmentInfo]:
        posted = self._posting(problem_id)[1]
        logs = self._logs(self.market.events.Committed, problem_id, posted,
                          int(self.w3.eth.block_number))
        out = []
        for log in logs:
            solver = log["args"]["solver"]
            _digest, claimed, revealed, index, state = self.market.functions.getCommitment(
                problem_id, solver).call()
            shown = COMMIT_STATE[state]
            out.append(CommitmentInfo(solver, int(claimed), int(revealed)
                                      if shown in ("Revealed", "Mismatched") else None,
                                      int(index), shown))
        return out

    def balances(self, address: str | None = None) -> dict[str, int]:
        """Token balance, market credit and registry stake of ``address`` (default: own)."""
        who = Web3.to_checksum_address(address or self.address)
        info = self.registry.functions.solverInfo(who).call()
        return {"token": int(self.token.functions.balanceOf(who).call()),
                "claimable": int(self.market.functions.claimable(who).call()),
                "stake": int(info[0]), "unbonding": int(info[1]), "wins": int(info[4]),
                "slashes": int(info[7])}

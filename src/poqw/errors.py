"""The one exception tree of poqw.

Validation failures are expected outcomes: each has a precise subclass, and where useful it
carries the offending object. Anything that is not a ``PoqwError`` is a bug.

::

    PoqwError
    ├── InvalidProblem (ValueError)      a model, graph or file that cannot be a problem
    │   └── ProblemFormatError           a file or JSON document that does not parse
    ├── ProblemTooLarge (ValueError)     an exact/state-vector method asked to do too much
    ├── SimulationError                  a simulator could not run the circuit as asked
    │   └── BackendUnavailable           the backend's library or hardware is missing
    ├── SamplerError                     a sampler was misused or failed
    │   └── UnknownSampler (KeyError)    no sampler by that name
    ├── ConfigError (ValueError)         a wrong config file, flag or genesis
    ├── CryptoError                      keys and signatures
    │   ├── InvalidSignature             a signature that does not verify
    │   ├── KeyExhausted                 every one-time key of a stateful key has been used
    │   └── KeyStoreError                a key file that is missing, corrupt or wrongly unlocked
    │       ├── KeyStateBehind           the chain used one-time indices the state file calls free
    │       └── OneTimeKeyReused         the chain holds two signatures with one one-time index
    ├── DecodeError (ValueError)         bytes that do not decode (too long, malformed)
    ├── ConsensusError                   a rule of the chain is broken
    │   ├── InvalidBlock                 carries the block and a reason
    │   │   ├── InvalidHeader
    │   │   ├── InvalidProof
    │   │   └── InvalidTransaction
    │   └── InvalidGenesis
    ├── ExecutionError                   an EVM call reverted or could not run (carries output)
    │   └── InvalidStrikeCall            an input the strike precompile refuses (the call fails)
    ├── StorageError                     the node's database refused or is inconsistent
    ├── QueryRejected (ValueError)       an API query (logs, filters, subscriptions) not served
    │   ├── InvalidQuery                 a malformed query parameter (carries its name)
    │   ├── QueryLimitExceeded           over a configured limit (carries the limit)
    │   └── UnknownFilter                no installed filter or subscription with that id
    ├── MiningStopped                    the miner thread failed; carries the cause
    ├── MempoolRejected                  the mempool will not hold a transaction (full, underpriced)
    ├── MarketError                      the problem market's client could not do what was asked
    │   └── ContractReverted             a market contract refused, with its custom error decoded
    ├── RpcError                         a JSON-RPC request refused: carries code, message, data
    ├── ComputeError                     layer-2 compute jobs, results and their proofs
    │   ├── JobRejected                  a job a solver will not run (unknown model, too large)
    │   ├── ResultRejected               a result the coordinator will not take (carries it)
    │   │   └── HardwareFraud            device samples that contradict their energies or fidelity
    │   └── InvalidCommitment            a commitment, Merkle proof or fraud evidence that fails
    └── ProtocolError                    the peer-to-peer protocol
        ├── LocalProtocolError           we broke the rules (a bug here)
        └── RemoteProtocolError          the peer broke the rules (its fault)
            ├── MalformedMessage         a well-framed message whose payload does not decode
            ├── UnsupportedVersion       a peer speaking another version of the protocol
            ├── UntrustedPeer            a peer whose identity does not match what we pinned
            └── InvalidCapability        a capability record that is forged, relayed or malformed
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendUnavailable",
    "ComputeError",
    "ConfigError",
    "ConsensusError",
    "ContractReverted",
    "CryptoError",
    "DecodeError",
    "ExecutionError",
    "InvalidBlock",
    "InvalidCapability",
    "InvalidCommitment",
    "InvalidGenesis",
    "InvalidHeader",
    "InvalidProblem",
    "InvalidProof",
    "InvalidQuery",
    "InvalidSignature",
    "InvalidStrikeCall",
    "InvalidTransaction",
    "JobRejected",
    "KeyExhausted",
    "KeyStateBehind",
    "KeyStoreError",
    "LocalProtocolError",
    "MalformedMessage",
    "MarketError",
    "MempoolRejected",
    "MiningStopped",
    "OneTimeKeyReused",
    "PoqwError",
    "ProblemFormatError",
    "ProblemTooLarge",
    "ProtocolError",
    "QueryLimitExceeded",
    "QueryRejected",
    "RemoteProtocolError",
    "ResultRejected",
    "RpcError",
    "SamplerError",
    "SimulationError",
    "StorageError",
    "UnknownFilter",
    "UnknownSampler",
    "UnsupportedVersion",
    "UntrustedPeer",
]


class PoqwError(Exception):
    """Root of every error poqw raises on purpose."""


class InvalidProblem(PoqwError, ValueError):
    """A model, graph or instance that cannot be an Ising/MaxCut problem."""


class ProblemFormatError(InvalidProblem):
    """A problem file or document that does not parse; the message names file and line."""


class ProblemTooLarge(PoqwError, ValueError):
    """An exact or state-vector method was asked for more variables than it can hold."""


class SimulationError(PoqwError):
    """A simulator could not run the circuit as asked."""


class BackendUnavailable(SimulationError):
    """The backend's optional library or hardware is not present on this machine."""


class SamplerError(PoqwError):
    """A sampler was misused (bad parameters) or failed."""


class UnknownSampler(SamplerError, KeyError):
    """No sampler is registered under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else "unknown sampler"


class ConfigError(PoqwError, ValueError):
    """A configuration file, flag or genesis value is wrong; the message names it."""


class CryptoError(PoqwError):
    """Keys and signatures."""


class InvalidSignature(CryptoError):
    """A signature that does not verify."""


class KeyExhausted(CryptoError):
    """Every one-time key of a stateful signing key has been used: refuse to sign."""


class KeyStoreError(CryptoError):
    """A key file that is missing, corrupt, or unlocked with the wrong passphrase."""


class KeyStateBehind(KeyStoreError):
    """A key's one-time state file is behind the chain: a block already used an index the file
    calls unused (a restored backup, or the key in use elsewhere). ``use`` is that chain record."""

    def __init__(self, message: str, use: Any = None) -> None:
        super().__init__(message)
        self.use = use


class OneTimeKeyReused(KeyStoreError):
    """The chain holds two blocks signed with the same one-time index of this key: the key has
    leaked signing power and must be retired. ``uses`` are those chain records."""

    def __init__(self, message: str, uses: Any = None) -> None:
        super().__init__(message)
        self.uses = uses


class DecodeError(PoqwError, ValueError):
    """Bytes that do not decode: over the size limit, truncated or malformed."""


class ConsensusError(PoqwError):
    """A consensus rule is broken."""


class InvalidBlock(ConsensusError):
    """A block that breaks a consensus rule. ``block`` is the offending block, if decoded."""

    def __init__(self, reason: str, block: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.block = block


class InvalidHeader(InvalidBlock):
    """A header field breaks a rule."""


class InvalidProof(InvalidBlock):
    """The work proof does not meet the puzzle."""


class InvalidTransaction(InvalidBlock):
    """A transaction in the block is invalid."""


class InvalidGenesis(ConsensusError, ValueError):
    """A genesis document that cannot start a chain."""


class ExecutionError(PoqwError):
    """A read-only EVM call reverted or could not run. ``output`` is the revert data, if any."""

    def __init__(self, reason: str, output: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.output = output


class InvalidStrikeCall(ExecutionError):
    """An input the strike precompile refuses: the EVM call fails, the node carries on."""


class StorageError(PoqwError):
    """The node's storage refused an operation or found itself inconsistent."""


class QueryRejected(PoqwError, ValueError):
    """An API query about logs, filters or subscriptions that the node will not serve."""


class InvalidQuery(QueryRejected):
    """A malformed query parameter; ``param`` names it (``"address"``, ``"topics[1]"``...)."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"invalid {param}: {reason}")
        self.param = param
        self.reason = reason


class QueryLimitExceeded(QueryRejected):
    """A query over a configured limit (block range, results, filters per connection);
    ``limit`` is the limit that was hit."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class UnknownFilter(QueryRejected, KeyError):
    """No installed filter or subscription has ``filter_id`` (never installed, removed or
    expired)."""

    def __init__(self, filter_id: str, reason: str = "filter not found") -> None:
        super().__init__(reason)
        self.filter_id = filter_id
        self.reason = reason

    def __str__(self) -> str:  # KeyError would quote the message
        return self.reason


class MiningStopped(PoqwError):
    """The miner thread stopped on an error; ``cause`` is the exception it raised."""

    def __init__(self, reason: str, cause: BaseException) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class MempoolRejected(PoqwError):
    """A valid transaction the mempool will not hold: full, underpriced replacement, too many
    from one sender, or already known."""


class MarketError(PoqwError):
    """The problem market's client could not do what was asked (no node, no deployment, a bad
    amount, a transaction that failed)."""


class ContractReverted(MarketError):
    """A market contract reverted. ``error`` is the custom error's name (``"ZeroBounty"``),
    ``args`` its decoded arguments by name, ``meaning`` what it says in words, and ``contract``
    the contract that declares it."""

    def __init__(self, error: str, args: dict[str, Any], meaning: str, contract: str) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in args.items())
        super().__init__(f"{contract} reverted with {error}({shown}): {meaning}")
        self.error = error
        self.args_by_name = args
        self.meaning = meaning
        self.contract = contract


class RpcError(PoqwError):
    """A JSON-RPC request the node refuses: ``code`` (JSON-RPC 2.0 or Ethereum's), a message
    naming what was wrong, and optional ``data`` (e.g. the revert data of a call)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class ComputeError(PoqwError):
    """A layer-2 compute job, result, commitment or proof was refused."""


class JobRejected(ComputeError):
    """A solver will not run a job: a model it does not hold, a job too large, bad fields."""

    def __init__(self, reason: str, job: Any = None) -> None:
        super().__init__(reason)
        self.job = job


class ResultRejected(ComputeError):
    """The coordinator will not take a result: unknown job, wrong model, oversized, malformed."""

    def __init__(self, reason: str, result: Any = None) -> None:
        super().__init__(reason)
        self.result = result


class HardwareFraud(ResultRejected):
    """A gate-model device's result whose samples contradict its claimed energies, or whose
    energy mean no device of its claimed fidelity would produce (carries the result)."""


class InvalidCommitment(ComputeError):
    """A signed commitment, Merkle proof or fraud evidence that does not verify."""


class ProtocolError(PoqwError):
    """The peer-to-peer protocol was broken."""


class LocalProtocolError(ProtocolError):
    """We broke the protocol: a bug on this side."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol: its fault; the peer may be scored or banned."""


class MalformedMessage(RemoteProtocolError):
    """A well-framed message whose payload does not decode; the stream itself stays usable."""


class UnsupportedVersion(RemoteProtocolError):
    """A peer speaking another version of the wire protocol: not misbehaviour, just no match."""


class UntrustedPeer(RemoteProtocolError):
    """A peer whose key or certificate does not match what we verified or pinned before."""


class InvalidCapability(RemoteProtocolError):
    """A peer's capability record that does not decode, is not signed by the peer's own node
    key, or is for another chain; ``record`` is the offending bytes."""

    def __init__(self, message: str, record: bytes) -> None:
        super().__init__(message)
        self.record = record

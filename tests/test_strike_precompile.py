"""The strike precompile at 0x...504f5157 on the PoQW execution engine: its answer is the integer
engine's, its gas is charged before the re-run, and every bad input is a failed call that
leaves the node and the chain working."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from poqw.compute.exact_strike import ExactStrike
from poqw.compute.strike_spec import StrikeSpec, samples_digest
from poqw.errors import ExecutionError
from poqw.execution import BlockEnv, ExecutionEngine
from poqw.execution.strike_precompile import (
    GAS_PER_WORK,
    MAX_INPUT_BYTES,
    STRIKE_BASE_GAS,
    STRIKE_PRECOMPILE_ADDRESS,
    decode_strike_answer,
    decode_strike_call,
    encode_strike_call,
    strike_call_gas,
)
from poqw.problems import IsingModel, maxcut_to_ising, random_regular_graph

MODEL = maxcut_to_ising(random_regular_graph(3, 10, seed=5))
SPEC = StrikeSpec.create(MODEL.content_hash(), [0.7, -0.2], [0.4, 1.1], 128, b"\x11" * 32)
SENDER = Account.from_key(b"\x03" * 32)


@pytest.fixture(scope="module")
def engine() -> ExecutionEngine:
    return ExecutionEngine(":memory:", 99, {bytes.fromhex(SENDER.address[2:]): 10**18})


def call(engine: ExecutionEngine, data: bytes, gas: int = 30_000_000) -> bytes:
    return engine.call(engine.genesis_state_root, STRIKE_PRECOMPILE_ADDRESS, data, gas=gas)


def test_answer_is_the_integer_engines_draws(engine: ExecutionEngine) -> None:
    asked = [0, 1, 77, 127, 77]
    answer = decode_strike_answer(call(engine, encode_strike_call(MODEL, SPEC, asked)))
    draws = ExactStrike(MODEL).draws(SPEC)
    assert answer.samples_digest == samples_digest(draws.indices)
    assert answer.ambiguous_count == int(draws.ambiguous.sum())
    assert answer.shots == tuple((int(draws.indices[k]), bool(draws.ambiguous[k]))
                                 for k in asked)


def test_gas_is_priced_from_the_size_and_charged_first(engine: ExecutionEngine) -> None:
    data = encode_strike_call(MODEL, SPEC, [3])
    gas = strike_call_gas(decode_strike_call(data))
    assert gas > STRIKE_BASE_GAS + GAS_PER_WORK * (1 << 10) * 11 * SPEC.depth
    used = engine.estimate_gas(engine.genesis_state_root, STRIKE_PRECOMPILE_ADDRESS, data)
    assert gas < used < gas + 21_000 + 16 * len(data) + 1
    with pytest.raises(ExecutionError, match="OutOfGas"):
        call(engine, data, gas=used - 1)
    bigger = maxcut_to_ising(random_regular_graph(3, 12, seed=5))
    spec = StrikeSpec.create(bigger.content_hash(), SPEC.gammas, SPEC.betas, 128, SPEC.seed)
    assert strike_call_gas(decode_strike_call(encode_strike_call(bigger, spec, [3]))) > 4 * gas \
        - 4 * STRIKE_BASE_GAS


def _with_model(model_bytes: bytes, spec: StrikeSpec = SPEC) -> bytes:
    spec_bytes = spec.to_bytes()
    return (struct.pack(">H", len(model_bytes)) + model_bytes + struct.pack(">H", len(spec_bytes))
            + spec_bytes + struct.pack(">HI", 1, 0))


def _cases() -> list[tuple[str, bytes, str]]:
    good = encode_strike_call(MODEL, SPEC, [0])
    big = maxcut_to_ising(random_regular_graph(3, 22, seed=1))
    big_spec = StrikeSpec.create(big.content_hash(), [0.1], [0.1], 8, b"\x00" * 32)
    heavy = IsingModel.from_dicts({0: 40000.0}, {(0, 1): 1.0})
    heavy_spec = StrikeSpec.create(heavy.content_hash(), [0.1], [0.1], 8, b"\x00" * 32)
    other = maxcut_to_ising(random_regular_graph(3, 10, seed=6))
    shuffled = bytearray(MODEL.canonical_bytes())
    tail = len(shuffled) - 32  # swap the last two couplings: same content, not canonical
    shuffled[tail:] = shuffled[tail + 16:] + shuffled[tail:tail + 16]
    return [
        ("empty", b"", "ends inside its model length"),
        ("truncated", good[:-1], "the call has 3 left"),
        ("trailing bytes", good + b"\x00", "the call has 5 left"),
        ("oversized", good + bytes(MAX_INPUT_BYTES), "at most 8192 bytes"),
        ("no shots", good[:-6] + b"\x00\x00", "ask about 1..256 shots, got 0"),
        ("shot past the strike", encode_strike_call(MODEL, SPEC, [128]), "shot 128 asked"),
        ("too many shots", encode_strike_call(MODEL, SPEC, [0] * 257), "got 257"),
        ("22 variables", _with_model(big.canonical_bytes(), big_spec), "1..20 variables"),
        ("huge weights", _with_model(heavy.canonical_bytes(), heavy_spec), "weights spread"),
        ("another model", _with_model(other.canonical_bytes()), "not the spec's model hash"),
        ("non-canonical model", _with_model(bytes(shuffled)), "not the spec's model hash"),
        ("bad spec", good[:2 + len(MODEL.canonical_bytes())] + b"\x00\x05hello"
         + good[-6:], "spec does not decode"),
    ]


@pytest.mark.parametrize(("case", "data", "reason"), _cases(), ids=[c[0] for c in _cases()])
def test_bad_input_is_a_failed_call(engine: ExecutionEngine, case: str, data: bytes,
                                    reason: str) -> None:
    with pytest.raises(ExecutionError, match="VMError strike precompile: .*" + reason):
        call(engine, data)


def test_hostile_transactions_fail_and_the_chain_goes_on(engine: ExecutionEngine) -> None:
    """Blocks whose transactions call the precompile with garbage and with too little gas apply;
    those calls fail (status 0), and a good call in the same block succeeds."""
    sender = bytes.fromhex(SENDER.address[2:])
    good = encode_strike_call(MODEL, SPEC, [5])
    payloads: list[tuple[bytes, int]] = [(b"\xff" * 300, 200_000), (good, 60_000),
                                         (good, 2_000_000)]
    raws = []
    for nonce, (data, gas) in enumerate(payloads):
        tx: dict[str, Any] = {"type": 2, "chainId": 99, "nonce": nonce, "maxFeePerGas": 10,
                              "maxPriorityFeePerGas": 1, "gas": gas,
                              "to": "0x" + STRIKE_PRECOMPILE_ADDRESS.hex(), "value": 0,
                              "data": data}
        raws.append(bytes(SENDER.sign_transaction(tx).raw_transaction))
    env = BlockEnv(number=1, timestamp=1_800_000_001, coinbase=b"\xcb" * 20,
                   gas_limit=30_000_000, base_fee_per_gas=1, prev_randao=keccak(b"1"))
    result = engine.apply_block(engine.genesis_state_root, env, raws, reward=0)
    assert [r.status for r in result.receipts] == [False, False, True]
    assert [r.gas_used for r in result.receipts[:2]] == [200_000, 60_000]  # all gas spent
    assert engine.nonce(result.state_root, sender) == 3


def test_every_asked_shot_is_answered_with_its_index_and_flag(engine: ExecutionEngine) -> None:
    """Over a few strikes, every shot asked: index and flag are the engine's."""
    rng = np.random.default_rng(9)
    for _ in range(3):
        spec = StrikeSpec.create(MODEL.content_hash(), rng.uniform(-3, 3, 1),
                                 rng.uniform(-3, 3, 1), 256, rng.bytes(32))
        draws = ExactStrike(MODEL).draws(spec)
        answer = decode_strike_answer(call(engine, encode_strike_call(MODEL, spec,
                                                                      list(range(256)))))
        assert [a for _, a in answer.shots] == draws.ambiguous.tolist()
        assert [i for i, _ in answer.shots] == draws.indices.tolist()


def test_a_20_variable_depth_1_rerun_fits_a_30m_gas_block() -> None:
    """The cap (20 variables) is usable: one such re-run with 64 shots costs under 28M gas,
    leaving room for the judge contract in a 30M-gas block; depth 2 does not fit."""
    model = maxcut_to_ising(random_regular_graph(3, 20, seed=2))
    for depth, fits in ((1, True), (2, False)):
        spec = StrikeSpec.create(model.content_hash(), [0.1] * depth, [0.2] * depth, 64,
                                 b"\x00" * 32)
        gas = strike_call_gas(decode_strike_call(encode_strike_call(model, spec, [0])))
        assert (gas < 28_000_000) is fits, gas

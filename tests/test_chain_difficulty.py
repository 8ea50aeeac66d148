"""Difficulty policies (energy bound and ticket target), block work, rewards and fork choice
against closed forms and simulations."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poqw.chain import (
    MAX_TICKET_TARGET,
    Genesis,
    Header,
    MemoryChainView,
    Tip,
    asert_work,
    block_reward,
    block_work,
    builtin_genesis,
    genesis_header,
    is_better_tip,
    is_deep_reorg,
    issued_until,
    miner_reward,
    next_difficulty,
    next_energy_bound,
    pow2_fixed16,
    ticket_work,
    tip_after,
    work_of_bound,
)
from poqw.crypto.hashing import hash32
from poqw.errors import ConsensusError

DEVNET = builtin_genesis("devnet")
ZEPHYR = builtin_genesis("zephyr-testnet")
ROOT = hash32(b"test/root", b"")


def child(genesis, parent: Header, view, miner: bytes, dt: int, salt: int = 0) -> Header:
    """A header on ``parent`` with the required difficulty (proof fields are dummies)."""
    d = next_difficulty(genesis, parent, view)
    h = Header(parent.hash(), parent.number + 1, parent.timestamp + dt, miner, ROOT, ROOT, ROOT,
               parent.gas_limit, 0, d.energy_bound, salt.to_bytes(32, "big"), ROOT,
               d.ticket_target)
    view.add(h)
    return h


@given(st.integers(-(1 << 22), 1 << 22))
def test_pow2_fixed16_is_within_the_published_error(exponent):
    factor, shifts = pow2_fixed16(exponent)
    assert 65536 <= factor < 131072
    approx = factor * 2.0 ** shifts / 65536
    exact = 2.0 ** (exponent / 65536)
    assert abs(approx / exact - 1) < 1.5e-4


def test_asert_matches_the_real_formula_and_the_work_meets_it_finely():
    for g in (ZEPHYR, DEVNET):
        d = g.difficulty
        root = genesis_header(g, ROOT, ROOT)
        w0 = d.anchor_work
        for number, elapsed in [(0, 0), (10, 100), (10, 40), (10, 1000), (500, 3000),
                                (500, 9000), (3, 4000), (1000, 10)]:
            parent = replace(root, number=number, timestamp=g.timestamp + elapsed)
            exact = w0 * 2.0 ** ((g.target_interval * number - elapsed) / d.halflife)
            target = asert_work(g, parent)
            assert abs(target / exact - 1) < 2e-4
            diff = next_difficulty(g, parent, MemoryChainView())
            assert next_energy_bound(g, parent, MemoryChainView()) == diff.energy_bound
            work = ticket_work(d, diff.energy_bound, diff.ticket_target)
            # the bound: the hardest one from the lottery bound down whose work fits the target
            easier = range(d.lottery, d.easiest_bound + 1)
            fitting = [b for b in easier if work_of_bound(d, b) <= target]
            assert diff.energy_bound == (fitting[0] if fitting else d.easiest_bound)
            if fitting:  # the ticket makes up the rest, to far better than one part in 10**6
                assert target <= work < target * (1 + 1e-6) + 1
            else:
                assert diff.ticket_target == MAX_TICKET_TARGET


def test_on_schedule_keeps_the_anchor_work_and_deviations_move_it_the_right_way():
    for g in (ZEPHYR, DEVNET):
        d = g.difficulty
        view = MemoryChainView()
        root = genesis_header(g, ROOT, ROOT)

        def work(parent: Header, g: Genesis = g, view: MemoryChainView = view) -> int:
            diff = next_difficulty(g, parent, view)
            return ticket_work(g.difficulty, diff.energy_bound, diff.ticket_target)

        on = replace(root, number=100, timestamp=g.timestamp + 100 * g.target_interval)
        fast = replace(on, timestamp=g.timestamp + 100)
        slow = replace(on, timestamp=g.timestamp + 100 * g.target_interval + 4 * 3600)
        assert abs(work(on) / d.anchor_work - 1) < 1e-4
        assert work(fast) > work(on) > work(slow)
        very_fast = replace(on, number=10**6, timestamp=g.timestamp + 1)
        very_slow = replace(on, timestamp=g.timestamp + 10**8)
        hard = next_difficulty(g, very_fast, view)
        assert hard.energy_bound == d.lottery and hard.ticket_target < MAX_TICKET_TARGET >> 64
        assert next_difficulty(g, very_slow, view) == type(hard)(d.easiest_bound,
                                                                 MAX_TICKET_TARGET)


def test_target_time_steers_a_steady_miner_to_the_target_interval():
    """A miner doing a fixed amount of work per second: intervals converge to the target."""
    g = ZEPHYR
    d = g.difficulty
    rate = d.anchor_work * 3 / g.target_interval  # three times the anchor: start off-target
    view = MemoryChainView()
    parent = genesis_header(g, ROOT, ROOT)
    view.add(parent)
    times = []
    for i in range(3000):
        diff = next_difficulty(g, parent, view)
        dt = max(1, round(ticket_work(d, diff.energy_bound, diff.ticket_target) / rate))
        parent = child(g, parent, view, bytes(20), dt, i)
        times.append(dt)
    late = times[-1000:]
    assert abs(sum(late) / len(late) / g.target_interval - 1) < 0.1


def test_inverted_policy_eases_streaks_and_hardens_new_winners():
    doc_g = replace(DEVNET, difficulty=replace(DEVNET.difficulty, policy="inverted"))
    d = doc_g.difficulty
    a, b = b"\xaa" * 20, b"\xbb" * 20
    view = MemoryChainView()
    g0 = genesis_header(doc_g, ROOT, ROOT)
    view.add(g0)
    expected = d.initial_bound
    assert next_energy_bound(doc_g, g0, view) == expected
    parent = g0
    miners = [a, a, a, a, b, a, a, a, a, a, a, a]
    prev_miner = bytes(20)
    for m in miners:
        h = child(doc_g, parent, view, m, 10)
        assert h.energy_bound == expected
        # what the next block will need, from this block and its parent
        if m == prev_miner:
            expected = min(d.easiest_bound, expected + d.ease_step)
        else:
            expected = max(d.hardest_bound, expected - d.harden_step)
        prev_miner, parent = m, h
    assert next_energy_bound(doc_g, parent, view) == expected == d.easiest_bound


def test_inverted_needs_the_grandparent():
    g = replace(DEVNET, difficulty=replace(DEVNET.difficulty, policy="inverted"))
    orphan = replace(genesis_header(g, ROOT, ROOT), number=5, parent_hash=hash32(b"x", b""))
    with pytest.raises(ConsensusError, match="grandparent"):
        next_energy_bound(g, orphan, MemoryChainView())


def test_streak_reward_multiplier_is_capped_at_five():
    g = replace(DEVNET, difficulty=replace(DEVNET.difficulty, policy="inverted"))
    view = MemoryChainView()
    parent = genesis_header(g, ROOT, ROOT)
    view.add(parent)
    a, b = b"\xaa" * 20, b"\xbb" * 20
    multipliers = []
    for m in [a, a, a, a, a, a, a, b, b, a]:
        h = child(g, parent, view, m, 10)
        multipliers.append(miner_reward(g, h, parent, view) // block_reward(g.rewards,
                                                                            int(h.number)))
        parent = h
    assert multipliers == [1, 2, 3, 4, 5, 5, 5, 1, 2, 1]
    plain = genesis_header(DEVNET, ROOT, ROOT)
    h = child(DEVNET, plain, MemoryChainView([plain]), a, 10)
    assert miner_reward(DEVNET, h, plain, MemoryChainView([plain])) == block_reward(
        DEVNET.rewards, 1)


def test_rewards_halve_down_to_the_tail():
    s = DEVNET.rewards
    assert block_reward(s, 0) == 0
    assert block_reward(s, 1) == s.initial
    assert block_reward(s, s.halving_interval) == max(s.initial // 2, s.tail)
    assert block_reward(s, 10**9) == s.tail
    small = replace(s, initial=1000, halving_interval=7, tail=60)
    total = 0
    for height in range(1, 200):
        r = int(block_reward(small, height))
        assert r == max(1000 >> (height // 7), 60)
        total += r
        assert issued_until(small, height) == total


def test_work_is_monotone_and_matches_the_calibration():
    d = DEVNET.difficulty
    works = [work_of_bound(d, b) for b in range(d.hardest_bound, d.easiest_bound + 1)]
    assert works == list(d.work) and works == sorted(works, reverse=True)
    with pytest.raises(ConsensusError, match="outside the calibrated range"):
        work_of_bound(d, d.hardest_bound - 1)
    # the ticket multiplies the bound's work by the inverse odds, exactly, in integers
    b = d.lottery
    assert ticket_work(d, b, MAX_TICKET_TARGET) == work_of_bound(d, b)
    assert ticket_work(d, b, (1 << 255) - 1) == 2 * work_of_bound(d, b)
    assert ticket_work(d, b, 0) == work_of_bound(d, b) << 256
    with pytest.raises(ConsensusError, match="ticket target"):
        ticket_work(d, b, 1 << 256)


def test_fork_choice_by_work_then_first_seen_never_hash_or_timestamp():
    g = DEVNET
    view = MemoryChainView()
    g0 = genesis_header(g, ROOT, ROOT)
    view.add(g0)
    tip0 = Tip(g0.hash(), 0, 0)
    a1 = child(g, g0, view, b"\xaa" * 20, 10)
    b1 = child(g, g0, view, b"\xbb" * 20, 10)
    ta, tb = tip_after(g, tip0, a1), tip_after(g, tip0, b1)
    assert ta.total_work == tb.total_work == block_work(g, a1) > 0
    # an equal-work tie keeps the head held (first seen), whichever hash is lower
    assert not is_better_tip(ta, tb) and not is_better_tip(tb, ta)
    # flaw 7 and issue 10: the producer can grind neither a timestamp nor a low hash to win
    for dt in range(1, 40):
        b1x = replace(b1, timestamp=g0.timestamp + dt)
        assert not is_better_tip(tip_after(g, tip0, b1x), ta)
    a2 = child(g, a1, view, b"\xaa" * 20, 10)
    assert is_better_tip(tip_after(g, ta, a2), tb)
    assert not is_better_tip(tb, tip_after(g, ta, a2))


def test_fork_choice_keeps_the_first_seen_of_equal_work():
    tips = [Tip(hash32(b"t", bytes([i])), 1, w) for i, w in enumerate([5, 5, 7, 5, 7, 1])]
    for x in tips:
        assert not is_better_tip(x, x)
        for y in tips:
            assert is_better_tip(x, y) == (x.total_work > y.total_work)
    best = tips[0]
    for t in tips[1:]:
        best = t if is_better_tip(t, best) else best
    assert best == tips[2]  # the first tip with the most work, not the lowest hash


def test_deep_reorg_is_reported_not_refused():
    limit = DEVNET.reorg_depth_limit
    assert not is_deep_reorg(DEVNET, 100, 100 - limit)
    assert is_deep_reorg(DEVNET, 100, 99 - limit)
    assert math.isfinite(limit)

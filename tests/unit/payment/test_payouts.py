from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.money import Money
from services.payment.domain.errors import PayoutStillHeld
from services.payment.domain.events import Change, PayoutReleased
from services.payment.domain.fees import FeeSplit, split_line
from services.payment.domain.payouts import FeeBearer, Payout, PayoutRules, PayoutStatus
from services.payment.domain.rounding import Rate
from tests.unit.payment.builders import DOCTOR, T0, usd

RULES = PayoutRules()
EARNED = FeeSplit(usd(10_000), usd(300), usd(320), usd(9_380))


def a_payout(split: FeeSplit = EARNED, rules: PayoutRules = RULES) -> Payout:
    return Payout.earn(DOCTOR, "payment-1", 0, split, T0, rules)


def test_a_payout_is_held_for_30_days_after_payment_by_default() -> None:
    payout = a_payout()
    assert payout.status is PayoutStatus.HELD
    assert payout.release_at == T0 + timedelta(days=30)
    assert (payout.split.platform_fee, payout.split.gateway_fee, payout.split.net) == (
        usd(300),
        usd(320),
        usd(9_380),
    )


def test_the_hold_is_configurable() -> None:
    assert a_payout(rules=PayoutRules(hold=timedelta(days=7))).release_at == T0 + timedelta(days=7)


def test_a_payout_is_not_released_before_its_hold_ends() -> None:
    payout = a_payout()
    with pytest.raises(PayoutStillHeld):
        payout.release(T0 + timedelta(days=30) - timedelta(seconds=1))
    assert payout.status is PayoutStatus.HELD


def test_a_payout_is_released_once_when_its_hold_ends() -> None:
    payout = a_payout()
    released_at = T0 + timedelta(days=30)
    assert payout.release(released_at) is Change.APPLIED
    assert (payout.status, payout.released_at) == (PayoutStatus.RELEASED, released_at)
    assert payout.events == [
        PayoutReleased(payout.id, DOCTOR, "payment-1", usd(10_000), usd(9_380), released_at)
    ]
    assert payout.release(released_at + timedelta(days=1)) is Change.NONE
    assert len(payout.events) == 1


def test_a_full_refund_before_release_reverses_the_payout() -> None:
    payout = a_payout()
    given_back = payout.take_back(usd(10_000), FeeBearer.PLATFORM, T0 + timedelta(days=1))
    assert given_back == usd(9_380)
    assert payout.status is PayoutStatus.REVERSED and payout.split == FeeSplit.nothing("USD")
    assert payout.release(T0 + timedelta(days=31)) is Change.NONE


def test_a_partial_refund_shrinks_the_payout_and_the_platform_gives_back_its_fee_share() -> None:
    payout = a_payout()
    payout.take_back(usd(5_000), FeeBearer.PLATFORM, T0)
    assert payout.split == FeeSplit(usd(5_000), usd(150), usd(160), usd(4_690))
    assert payout.refunded == usd(5_000) and payout.status is PayoutStatus.HELD


def test_when_the_doctor_bears_the_gateway_fee_a_partial_refund_keeps_it_on_the_payout() -> None:
    payout = a_payout()
    payout.take_back(usd(5_000), FeeBearer.DOCTOR, T0)
    assert payout.split == FeeSplit(usd(5_000), usd(150), usd(320), usd(4_530))


def test_a_refund_never_leaves_a_doctor_owing_money() -> None:
    payout = a_payout()
    payout.take_back(usd(9_800), FeeBearer.DOCTOR, T0)
    assert payout.split.net == usd(0)
    assert payout.split.gateway_fee == usd(200)


def test_only_a_held_payout_gives_money_back() -> None:
    payout = a_payout()
    payout.release(T0 + timedelta(days=30))
    with pytest.raises(ValueError):
        payout.take_back(usd(100), FeeBearer.PLATFORM, T0 + timedelta(days=31))


@settings(max_examples=200, deadline=None)
@given(
    gross=st.integers(1, 10**7),
    gateway_fee=st.integers(0, 10**6),
    bearer=st.sampled_from(FeeBearer),
    refunds=st.lists(st.integers(1, 10**7), max_size=6),
)
def test_after_any_refunds_a_payouts_parts_add_up_and_the_net_only_shrinks(
    gross: int, gateway_fee: int, bearer: FeeBearer, refunds: list[int]
) -> None:
    payout = a_payout(split_line(usd(gross), Rate.percent(3), usd(gateway_fee)))
    for refund in refunds:
        if payout.status is not PayoutStatus.HELD:
            break
        amount = Money(min(refund, payout.split.gross.amount_minor), "USD")
        net_before = payout.split.net
        given_back = payout.take_back(amount, bearer, T0)
        assert given_back == net_before - payout.split.net
        assert usd(0) <= given_back <= amount
        split = payout.split
        assert split.platform_fee + split.gateway_fee + split.net == split.gross
        assert split.net <= payout.earned.net
        assert payout.refunded + split.gross == payout.earned.gross

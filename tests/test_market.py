"""Tests of the market cores (simulators/market.py, simulators/markets/*): day-ahead clearing
against the welfare-maximising LP (scipy HiGHS), background merit order, flexible demand
feedback, FCR and mFRR merit orders, imbalance settlement, retail price composition, DST timing
and Energi Data Service imports."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from simulators.market import (
    DEFAULT_SLOPE_EUR_PER_MWH_PER_MW,
    FULL_ELECTRICITY_TAX_DKK_PER_MWH,
    PRICE_CAP_EUR_PER_MWH,
    PRICE_FLOOR_EUR_PER_MWH,
    REDUCED_HEATING_TAX_DKK_PER_MWH,
    DayAheadMarket,
    RetailPriceModel,
    SettlementLedger,
    activate_mfrr,
    clear_fcr_auction,
    clear_uniform_price,
    delivery_day_of,
    delivery_mtus,
    gate_closure_utc,
    make_bid,
    settle_imbalance,
)
from simulators.prices import (
    DEFAULT_TOU_DKK_PER_MWH,
    EUR_TO_DKK,
    load_energidataservice_csv,
    synthetic_dk_day_ahead,
)

# ---------------------------------------------------------------------------------------------
# day-ahead clearing == welfare-maximising LP
# ---------------------------------------------------------------------------------------------


def _random_book(rng: np.random.Generator, T: int, ties: bool):
    """Padded random buy/sell step arrays; with ties, prices come from a coarse grid."""
    K = 12
    bq = np.round(rng.integers(1, 60, (T, K)) * 0.1, 1)
    sq = np.round(rng.integers(1, 60, (T, K)) * 0.1, 1)
    if ties:
        bp = rng.choice(np.arange(0.0, 101.0, 10.0), (T, K))
        sp = rng.choice(np.arange(0.0, 101.0, 10.0), (T, K))
    else:
        bp = np.round(rng.uniform(-50, 150, (T, K)), 2)
        sp = np.round(rng.uniform(-50, 150, (T, K)), 2)
    # random empty slots (padding) and whole empty sides in some MTUs
    bq[rng.random((T, K)) < 0.25] = 0.0
    sq[rng.random((T, K)) < 0.25] = 0.0
    bq[0] = 0.0 if T > 3 else bq[0]
    return bp, bq, sp, sq


def _lp_clear(bp, bq, sp, sq, second_stage: bool = True):
    """Welfare-maximising LP (HiGHS) and, second stage, the volume-maximising welfare optimum.

    Returns buy/sell volumes (T, K) and the LP dual price (T,)."""
    T, K = bp.shape
    nb = T * K
    c = np.concatenate([-bp.ravel(), sp.ravel()])  # minimise -(welfare)
    rows = np.concatenate([np.repeat(np.arange(T), K), np.repeat(np.arange(T), K)])
    cols = np.arange(2 * nb)
    vals = np.concatenate([np.ones(nb), -np.ones(nb)])
    A_eq = csr_matrix((vals, (rows, cols)), shape=(T, 2 * nb))
    bounds = np.column_stack([np.zeros(2 * nb), np.concatenate([bq.ravel(), sq.ravel()])])
    r1 = linprog(c, A_eq=A_eq, b_eq=np.zeros(T), bounds=bounds, method="highs")
    assert r1.status == 0
    dual_price = -np.asarray(r1.eqlin.marginals)
    # per-MTU welfare optimum, then maximise traded volume keeping each MTU's welfare
    w_t = np.array(
        [
            -(c[t * K : (t + 1) * K] @ r1.x[t * K : (t + 1) * K])
            - c[nb + t * K : nb + (t + 1) * K] @ r1.x[nb + t * K : nb + (t + 1) * K]
            for t in range(T)
        ]
    )
    if not second_stage:
        return r1.x[:nb].reshape(T, K), r1.x[nb:].reshape(T, K), dual_price, -r1.fun
    A_ub = csr_matrix((c, (rows, cols)), shape=(T, 2 * nb))
    c2 = np.concatenate([-np.ones(nb), np.zeros(nb)])
    r2 = linprog(
        c2, A_ub=A_ub, b_ub=-w_t + 1e-9, A_eq=A_eq, b_eq=np.zeros(T), bounds=bounds,
        method="highs",
    )  # fmt: skip
    assert r2.status == 0
    return r2.x[:nb].reshape(T, K), r2.x[nb:].reshape(T, K), dual_price, -r1.fun


def _level_sums(price: np.ndarray, vol: np.ndarray) -> dict[tuple[int, float], float]:
    out: dict[tuple[int, float], float] = {}
    for t in range(price.shape[0]):
        for p, v in zip(price[t], vol[t], strict=True):
            out[(t, float(p))] = out.get((t, float(p)), 0.0) + float(v)
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_uniform_price_equals_welfare_lp(ties: bool) -> None:
    rng = np.random.default_rng(11 if ties else 7)
    n_vertical = 0
    for _ in range(15):
        bp, bq, sp, sq = _random_book(rng, 8, ties)
        ours = clear_uniform_price(bp, bq, sp, sq)
        xb, xs, dual, w_lp = _lp_clear(bp, bq, sp, sq)
        ab, as_ = ours["buy_accepted_MW"], ours["sell_accepted_MW"]
        # balance and welfare
        np.testing.assert_allclose(ab.sum(axis=1), as_.sum(axis=1), atol=1e-9)
        w_ours = float((bp * ab).sum() - (sp * as_).sum())
        assert w_ours == pytest.approx(w_lp, rel=1e-9, abs=1e-7)
        # volumes per (MTU, side, price level): unique under (welfare, volume) maximisation
        for mine, lp, prices in ((ab, xb, bp), (as_, xs, sp)):
            a, b = _level_sums(prices, mine), _level_sums(prices, lp)
            for k in a:
                assert a[k] == pytest.approx(b[k], abs=1e-6), k
        # prices: the interval of market-clearing prices, derived from the LP optimum
        tol = 1e-7
        for t in range(bp.shape[0]):
            lo_c = [PRICE_FLOOR_EUR_PER_MWH]
            hi_c = [PRICE_CAP_EUR_PER_MWH]
            lo_c += list(sp[t][(xs[t] > tol)]) + list(bp[t][(xb[t] < bq[t] - tol)])
            hi_c += list(bp[t][(xb[t] > tol)]) + list(sp[t][(xs[t] < sq[t] - tol)])
            lo, hi = max(lo_c), min(hi_c)
            assert lo <= hi
            assert lo - 1e-6 <= dual[t] <= hi + 1e-6  # HiGHS' dual is one of them
            assert ours["price_lo_EUR_per_MWh"][t] == pytest.approx(lo, abs=1e-9)
            assert ours["price_hi_EUR_per_MWh"][t] == pytest.approx(hi, abs=1e-9)
            if hi - lo < 1e-9:
                assert ours["price_EUR_per_MWh"][t] == pytest.approx(dual[t], abs=1e-6)
            else:  # vertical crossing: midpoint, on the tick
                n_vertical += 1
                assert ours["price_EUR_per_MWh"][t] == pytest.approx(0.5 * (lo + hi), abs=0.005)
        # pro rata at the marginal price: one acceptance fraction per (MTU, side, price)
        for acc, q, prices in ((ab, bq, bp), (as_, sq, sp)):
            frac = np.divide(acc, q, out=np.zeros_like(acc), where=q > 0)
            for t in range(bp.shape[0]):
                for p in np.unique(prices[t][q[t] > 0]):
                    f = frac[t][(prices[t] == p) & (q[t] > 0)]
                    np.testing.assert_allclose(f, f[0], atol=1e-12)
    if ties:
        assert n_vertical > 0  # the tie set exercised the interval/midpoint rule


def test_linear_background_matches_lp_with_fine_staircase() -> None:
    """The continuous background equals the limit of a staircase merit order solved by LP."""
    rng = np.random.default_rng(5)
    T = 4
    target = np.array([40.0, 55.5, 70.25, 90.0])
    slope = 0.05
    bp, bq, sp, sq = _random_book(rng, T, ties=False)
    bp, sp = bp + 50.0, sp + 50.0
    ours = clear_uniform_price(
        bp, bq, sp, sq, target_EUR_per_MWh=target, slope_EUR_per_MWh_per_MW=slope
    )
    # staircase: net supply N(p) = (p - target)/slope as 0.05-MW steps over +-150 MW
    w = 0.05
    k = np.arange(-3000, 3000) + 0.5
    stair_p = target[:, None] + slope * k[None, :] * w
    bg_buy_p = np.where(stair_p < target[:, None], stair_p, PRICE_CAP_EUR_PER_MWH)
    bg_buy_q = np.where(stair_p < target[:, None], w, 0.0)
    bg_sell_q = np.where(stair_p > target[:, None], w, 0.0)
    xb, xs, dual, _ = _lp_clear(
        np.hstack([bp, bg_buy_p]), np.hstack([bq, bg_buy_q]),
        np.hstack([sp, stair_p]), np.hstack([sq, bg_sell_q]), second_stage=False,
    )  # fmt: skip
    np.testing.assert_allclose(ours["price_EUR_per_MWh"], dual, atol=slope * w * 2)
    np.testing.assert_allclose(ours["buy_accepted_MW"], xb[:, :12], atol=2 * w)
    np.testing.assert_allclose(ours["sell_accepted_MW"], xs[:, :12], atol=2 * w)


# ---------------------------------------------------------------------------------------------
# background curve, price feedback, price taker
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def winter_day() -> tuple[pd.DatetimeIndex, np.ndarray]:
    m = DayAheadMarket(3600)
    times = m.mtus(date(2025, 1, 15))
    spot = synthetic_dk_day_ahead(datetime(2025, 1, 14), datetime(2025, 1, 17), seed=2)
    return times, m.target_from_series(spot, times)


def test_background_reproduces_target_exactly(winter_day) -> None:
    times, target = winter_day
    for mtu_s in (900, 3600):
        m = DayAheadMarket(mtu_s)
        t = m.mtus(date(2025, 1, 15))
        spot = synthetic_dk_day_ahead(datetime(2025, 1, 14), datetime(2025, 1, 17), seed=2)
        tg = m.target_from_series(spot, t)
        res = m.clear(tg, [], times=t)
        np.testing.assert_array_equal(res.price_EUR_per_MWh, tg)
        assert len(t) == 24 * 3600 // mtu_s
    # DKK series divided by the iPower exchange rate 7.45
    np.testing.assert_allclose(
        target * EUR_TO_DKK,
        synthetic_dk_day_ahead(datetime(2025, 1, 14), datetime(2025, 1, 17), seed=2)
        .reindex(times)
        .to_numpy(),
        rtol=1e-12,
    )


def test_single_buy_moves_price_by_slope(winter_day) -> None:
    times, target = winter_day
    m = DayAheadMarket(3600)
    res = m.clear(target, [make_bid("fleet", buy=[[(4000.0, 100.0)]] * 24)], times=times)
    np.testing.assert_allclose(
        res.price_EUR_per_MWh, target + DEFAULT_SLOPE_EUR_PER_MWH_PER_MW * 100.0, atol=1e-9
    )
    np.testing.assert_allclose(res.net_MW[0], 100.0)
    np.testing.assert_allclose(res.background_net_supply_MW, 100.0)
    taker = DayAheadMarket(3600, mode="price_taker").clear(
        target, [make_bid("fleet", buy=[[(4000.0, 100.0)]] * 24)], times=times
    )
    np.testing.assert_array_equal(taker.price_EUR_per_MWh, target)  # no feedback


def test_flexible_demand_raises_cheap_lowers_expensive(winter_day) -> None:
    times, target = winter_day
    m = DayAheadMarket(3600)
    slope = DEFAULT_SLOPE_EUR_PER_MWH_PER_MW
    # inflexible fleet: 50 MW every hour whatever the price
    inflex = m.clear(target, [make_bid("fleet", buy=[[(4000.0, 50.0)]] * 24)], times=times)
    # flexible fleet: 100 MW, only at prices up to the day's median
    limit = float(np.round(np.median(target), 2))
    flex = m.clear(target, [make_bid("fleet", buy=[[(limit, 100.0)]] * 24)], times=times)
    cheap = target <= limit - slope * 100.0
    dear = target > limit
    assert cheap.sum() >= 6 and dear.sum() >= 10
    assert np.all(flex.price_EUR_per_MWh[cheap] > inflex.price_EUR_per_MWh[cheap])
    assert np.all(flex.price_EUR_per_MWh[dear] < inflex.price_EUR_per_MWh[dear])
    # the visible move: +100 MW * slope in cheap hours, none in dear ones
    np.testing.assert_allclose(flex.price_EUR_per_MWh[cheap] - target[cheap], 100 * slope)
    np.testing.assert_allclose(flex.price_EUR_per_MWh[dear], target[dear])
    np.testing.assert_allclose(flex.net_MW[0][cheap], 100.0)
    np.testing.assert_allclose(flex.net_MW[0][dear], 0.0)
    # the marginal hours are rationed at the limit price (partial acceptance)
    mid = ~cheap & ~dear
    np.testing.assert_allclose(flex.price_EUR_per_MWh[mid], limit)
    # cheaper energy for the flexible fleet than for the inflexible one
    avg_flex = (flex.price_EUR_per_MWh * flex.net_MW[0]).sum() / flex.net_MW[0].sum()
    avg_inflex = (inflex.price_EUR_per_MWh * inflex.net_MW[0]).sum() / inflex.net_MW[0].sum()
    assert avg_flex < avg_inflex - 5.0


def test_steps_mode_stepwise_background_bid(winter_day) -> None:
    times, target = winter_day
    # a stepwise background merit order submitted as a bid: 1000 MW inelastic demand and a
    # supply staircase of 10 MW steps, 1 EUR/MWh apart, from 20 EUR/MWh
    staircase = [[(20.0 + k, 10.0) for k in range(200)]] * 24
    bg = make_bid("background", buy=[[(4000.0, 1000.0)]] * 24, sell=staircase)
    m = DayAheadMarket(3600, mode="steps")
    res = m.clear(target, [bg], times=times)
    # 100 steps meet 1000 MW exactly: every price in [119, 120] clears -> midpoint
    np.testing.assert_allclose(res.price_EUR_per_MWh, 119.5)
    res = m.clear(target, [bg, make_bid("fleet", buy=[[(4000.0, 25.0)]] * 24)], times=times)
    np.testing.assert_allclose(res.price_EUR_per_MWh, 122.0)  # 102.5 steps: 103rd marginal
    np.testing.assert_allclose(res.net_MW[1], 25.0)


def test_bid_json_roundtrip_and_per_step_result(winter_day) -> None:
    times, target = winter_day
    bids = [
        make_bid("a", buy=[[(200.0, 30.0), (50.0, 20.0)]] * 24),
        make_bid("b", sell=[[(10.0, 5.5)] if h % 2 else [] for h in range(24)]),
    ]
    bids = json.loads(json.dumps(bids))
    res = DayAheadMarket(3600).clear(target, bids, times=times)
    js = json.loads(json.dumps(res.to_json()))
    assert js["times_utc"][0] == "2025-01-14T23:00:00+00:00"
    steps = res.step_accepted_MW
    np.testing.assert_allclose(
        [sum(s) for s in steps[0]["buy"]], res.bought_MW[res.participants.index("a")]
    )
    assert steps[1]["sell"][0] == [] and steps[1]["sell"][1] == [5.5]


def test_dayahead_bad_input(winter_day) -> None:
    times, target = winter_day
    m = DayAheadMarket(3600)
    with pytest.raises(ValueError, match=r"price 4500.0 EUR/MWh outside \[-500, 4000\]"):
        m.clear(target, [make_bid("x", buy=[[(4500.0, 1.0)]] * 24)])
    with pytest.raises(ValueError, match="quantity=0.15 is not a multiple of 0.1"):
        m.clear(target, [make_bid("x", buy=[[(45.0, 0.15)]] * 24)])
    with pytest.raises(ValueError, match="price=45.005 is not a multiple of 0.01"):
        m.clear(target, [make_bid("x", buy=[[(45.005, 1.0)]] * 24)])
    with pytest.raises(ValueError, match="'buy' must be a list of 24 curves"):
        m.clear(target, [make_bid("x", buy=[[(45.0, 1.0)]] * 23)])
    with pytest.raises(ValueError, match="mode='x' is not allowed"):
        DayAheadMarket(mode="x")
    with pytest.raises(ValueError, match="slope_EUR_per_MWh_per_MW=-1"):
        DayAheadMarket(slope_EUR_per_MWh_per_MW=-1)


# ---------------------------------------------------------------------------------------------
# time zones, DST, gate closure, Energi Data Service inputs
# ---------------------------------------------------------------------------------------------


def test_delivery_days_and_gate_closure_across_dst() -> None:
    assert len(delivery_mtus(date(2025, 3, 30))) == 92
    assert len(delivery_mtus(date(2025, 10, 26))) == 100
    assert len(delivery_mtus(date(2025, 10, 27))) == 96
    assert len(delivery_mtus(date(2025, 3, 30), 3600)) == 23
    assert len(delivery_mtus(date(2025, 10, 26), 3600)) == 25
    t = delivery_mtus(date(2025, 7, 1))
    assert t[0] == pd.Timestamp("2025-06-30 22:00", tz="UTC")
    assert t[-1] == pd.Timestamp("2025-07-01 21:45", tz="UTC")
    assert gate_closure_utc(date(2025, 1, 15)) == pd.Timestamp("2025-01-14 11:00", tz="UTC")
    assert gate_closure_utc(date(2025, 7, 15)) == pd.Timestamp("2025-07-14 10:00", tz="UTC")
    # D-1 before / after the spring switch
    assert gate_closure_utc(date(2025, 3, 30)) == pd.Timestamp("2025-03-29 11:00", tz="UTC")
    assert gate_closure_utc(date(2025, 3, 31)) == pd.Timestamp("2025-03-30 10:00", tz="UTC")
    assert delivery_day_of(pd.Timestamp("2025-06-30 22:00", tz="UTC")) == date(2025, 7, 1)
    assert delivery_day_of(datetime(2025, 6, 30, 21, 59)) == date(2025, 6, 30)


def _dst_hours_csv(day: date) -> str:
    rows = ["HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR"]
    for i, ts in enumerate(delivery_mtus(day, 3600)):
        eur = 40.0 + 3.17 * i - (i % 5) * 7.3
        rows.append(
            f"{ts:%Y-%m-%d %H:%M:%S};{ts.tz_convert('Europe/Copenhagen'):%Y-%m-%d %H:%M:%S};"
            f"DK2;{eur * 7.46:.2f}".replace(".", ",")
            + f";{eur:.2f}".replace(".", ",")
        )
    return "\n".join(rows) + "\n"


def _quarter_csv(day: date) -> str:
    rows = ["TimeUTC,TimeDK,PriceArea,DayAheadPriceDKK,DayAheadPriceEUR"]
    for i, ts in enumerate(delivery_mtus(day, 900)):
        eur = -20.0 + 1.37 * i
        rows.append(
            f"{ts:%Y-%m-%dT%H:%MZ},{ts.tz_convert('Europe/Copenhagen'):%Y-%m-%d %H:%M},"
            f"DK1,{eur * 7.46:.2f},{eur:.2f}"
        )
    return "\n".join(rows) + "\n"


def test_eds_csv_both_formats_feed_the_market(tmp_path: Path) -> None:
    # Elspotprices (hourly, ';' and decimal comma) on the 23-hour day -> 92 quarter-hours
    day = date(2024, 3, 31)
    p = tmp_path / "Elspotprices.csv"
    p.write_text(_dst_hours_csv(day), encoding="utf-8")
    s = load_energidataservice_csv(p, "DK2", currency="EUR")
    m = DayAheadMarket(900)
    times = m.mtus(day)
    target = m.target_from_series(s, times)
    assert len(times) == 92
    np.testing.assert_array_equal(target, np.repeat(s.to_numpy(), 4))
    np.testing.assert_array_equal(m.clear(target, [], times).price_EUR_per_MWh, target)
    # DayAheadPrices (15 min) on the 25-hour day, DKK column -> divided by eur_to_dkk
    day2 = date(2025, 10, 26)
    p2 = tmp_path / "DayAheadPrices.csv"
    p2.write_text(_quarter_csv(day2), encoding="utf-8")
    s2 = load_energidataservice_csv(p2, "DK1")
    m2 = DayAheadMarket(900, eur_to_dkk=7.46)
    t2 = m2.mtus(day2)
    tg2 = m2.target_from_series(s2, t2)
    assert len(t2) == 100
    np.testing.assert_allclose(tg2, s2.to_numpy() / 7.46, rtol=1e-12)
    np.testing.assert_array_equal(m2.clear(tg2, [], t2).price_EUR_per_MWh, tg2)
    with pytest.raises(ValueError, match="does not cover 96 MTU"):
        m2.target_from_series(s2, m2.mtus(date(2025, 10, 27)))


def test_eds_malformed_row_names_its_line(tmp_path: Path) -> None:
    text = _quarter_csv(date(2025, 11, 5)).splitlines()
    text[7] = text[7].replace(",DK1,", ",DK1,12a,")  # line 8 of the file: an extra field
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv, line 8: 6 fields, the header has 5"):
        load_energidataservice_csv(p, "DK1")
    text = _quarter_csv(date(2025, 11, 5)).splitlines()
    text[12] = text[12].rsplit(",", 1)[0] + ",n/a"
    p.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 13: bad DayAheadPriceEUR value 'n/a'"):
        load_energidataservice_csv(p, "DK1", currency="EUR")


# ---------------------------------------------------------------------------------------------
# FCR capacity auction
# ---------------------------------------------------------------------------------------------


def test_fcr_marginal_pricing_hand_example() -> None:
    bids = [
        {"provider": "A", "product": "FCR-N", "hour": [0, 1], "capacity_MW": 4.0,
         "price_EUR_per_MW_h": 5.0},
        {"provider": "B", "product": "FCR-N", "hour": [0, 1], "capacity_MW": 4.0,
         "price_EUR_per_MW_h": 8.0},
        {"provider": "C", "product": "FCR-N", "hour": [0, 1], "capacity_MW": 4.0,
         "price_EUR_per_MW_h": 8.0},
        {"provider": "D", "product": "FCR-N", "hour": [0, 1], "capacity_MW": 5.0,
         "price_EUR_per_MW_h": 12.0},
        {"provider": "A", "product": "FCR-D up", "hour": 0, "capacity_MW": 3.0,
         "price_EUR_per_MW_h": 2.5},
        {"provider": "D", "product": "FCR-D up", "hour": 0, "capacity_MW": 3.0,
         "price_EUR_per_MW_h": 1.0},
    ]  # fmt: skip
    demand = {"FCR-N": [10.0, 20.0], "FCR-D up": [4.0, 0.0], "FCR-D down": 0.0}
    r = clear_fcr_auction(json.loads(json.dumps(bids)), n_hours=2, demand_MW=demand)
    assert r.providers == ["A", "B", "C", "D"]
    # hour 0: A 4 @5 in full, B and C tie at 8 for the remaining 6 MW -> 3 each; price 8
    np.testing.assert_allclose(r.awarded_MW["FCR-N"][:, 0], [4.0, 3.0, 3.0, 0.0])
    # hour 1: demand 20 > 17 offered: all accepted, price 12, shortfall 3
    np.testing.assert_allclose(r.awarded_MW["FCR-N"][:, 1], [4.0, 4.0, 4.0, 5.0])
    np.testing.assert_allclose(r.price_EUR_per_MW_h["FCR-N"], [8.0, 12.0])
    np.testing.assert_allclose(r.shortfall_MW["FCR-N"], [0.0, 3.0])
    # FCR-D up hour 0: D 3 @1 then A 1 of 3 @2.5 -> marginal 2.5; hour 1 no demand
    np.testing.assert_allclose(r.awarded_MW["FCR-D up"][:, 0], [1.0, 0.0, 0.0, 3.0])
    assert r.price_EUR_per_MW_h["FCR-D up"][0] == 2.5
    assert np.isnan(r.price_EUR_per_MW_h["FCR-D up"][1])
    # every accepted MW paid the marginal price
    np.testing.assert_allclose(
        r.revenue_EUR, [[4 * 8 + 2.5, 4 * 12], [24.0, 48.0], [24.0, 48.0], [3 * 2.5, 60.0]]
    )
    # second D-1 auction on the residual demand
    resid = {k: r.shortfall_MW[k] for k in r.products}
    r2 = clear_fcr_auction(
        [{"provider": "E", "product": "FCR-N", "hour": 1, "capacity_MW": 10.0,
          "price_EUR_per_MW_h": 20.0}], n_hours=2, demand_MW=resid,
    )  # fmt: skip
    np.testing.assert_allclose(r2.awarded_MW["FCR-N"], [[0.0, 3.0]])
    json.dumps(r.to_json())


def test_fcr_bad_input() -> None:
    ok = {"provider": "A", "product": "FCR-N", "hour": 0, "capacity_MW": 1.0,
          "price_EUR_per_MW_h": 5.0}  # fmt: skip
    with pytest.raises(ValueError, match="product='aFRR'"):
        clear_fcr_auction([{**ok, "product": "aFRR"}])
    with pytest.raises(ValueError, match="hour 24 must be an int in 0..23"):
        clear_fcr_auction([{**ok, "hour": 24}])
    with pytest.raises(ValueError, match="capacity_MW=0.05 below the minimum 0.1 MW"):
        clear_fcr_auction([{**ok, "capacity_MW": 0.05}])


# ---------------------------------------------------------------------------------------------
# mFRR activation and imbalance settlement
# ---------------------------------------------------------------------------------------------


def _mfrr_bids() -> list[dict]:
    def b(who, d, t, mw, p):
        return {"bidder": who, "direction": d, "mtu": t, "MW": mw, "price_EUR_per_MWh": p}

    return [
        b("X", "up", 0, 10.0, 80.0), b("Y", "up", 0, 10.0, 95.0), b("Z", "up", 0, 10.0, 120.0),
        b("X", "down", 1, 5.0, 40.0), b("W", "down", 1, 5.0, 20.0), b("V", "down", 1, 5.0, 50.0),
        b("X", "up", 2, 5.0, 70.0), b("Y", "up", 3, 5.0, 50.0),
    ]  # fmt: skip


def test_mfrr_merit_order_hand_example() -> None:
    spot = [60.0, 60.0, 60.0, 60.0]
    # imbalance = generation - load: deficit 15 MW, surplus 8 MW, balanced, deficit 5 MW
    r = activate_mfrr(_mfrr_bids(), [-15.0, 8.0, 0.0, -5.0], spot)
    i = {n: k for k, n in enumerate(r.bidders)}
    np.testing.assert_array_equal(r.direction, [1, -1, 0, 1])
    # MTU 0: X 10 @80 then Y 5 of 10 @95 -> marginal 95
    assert r.up_MW[i["X"], 0] == 10.0 and r.up_MW[i["Y"], 0] == 5.0 and r.up_MW[i["Z"], 0] == 0
    # MTU 1: highest down price first: V 5 @50, X 3 of 5 @40 -> marginal 40; W not activated
    assert r.down_MW[i["V"], 1] == 5.0 and r.down_MW[i["X"], 1] == 3.0
    assert r.down_MW[i["W"], 1] == 0.0
    # MTU 2: no need -> spot; MTU 3: up bid 50 below spot -> price floored at spot 60
    np.testing.assert_allclose(r.balancing_price_EUR_per_MWh, [95.0, 40.0, 60.0, 60.0])
    assert r.up_MW[:, 2].sum() == 0.0
    # settlement at the marginal price, 15-min energy
    np.testing.assert_allclose(r.revenue_EUR[i["X"]], [10 * 95 / 4, -3 * 40 / 4, 0.0, 0.0])
    np.testing.assert_allclose(r.revenue_EUR[i["Y"]], [5 * 95 / 4, 0.0, 0.0, 5 * 60 / 4])
    np.testing.assert_allclose(r.setpoint_delta_MW[i["X"]], [-10.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(r.shortfall_MW, 0.0)
    # not enough bids: all activated, shortfall reported
    r2 = activate_mfrr(_mfrr_bids(), [-40.0, 0.0, 0.0, 0.0], spot)
    assert r2.up_MW[:, 0].sum() == 30.0 and r2.shortfall_MW[0] == 10.0
    assert r2.balancing_price_EUR_per_MWh[0] == 120.0
    json.dumps(r.to_json())
    with pytest.raises(ValueError, match="direction='sideways'"):
        activate_mfrr([{**_mfrr_bids()[0], "direction": "sideways"}], [0.0] * 4, spot)
    with pytest.raises(ValueError, match="MW=0.5 below the minimum 1 MW"):
        activate_mfrr([{**_mfrr_bids()[0], "MW": 0.5}], [0.0] * 4, spot)


def test_imbalance_settlement_sums_to_zero() -> None:
    # hand example: bought 10 MW, consumed 12 MW at 100 EUR/MWh for 15 min -> pays 50 EUR
    r = settle_imbalance([[10.0]], [[12.0]], [100.0])
    assert r["position_MW"][0, 0] == -2.0 and r["cost_EUR"][0, 0] == pytest.approx(50.0)
    assert r["tso_cost_EUR"][0] == pytest.approx(-50.0)
    # a followed mFRR order (consume 3 MW less) is not an imbalance
    r = settle_imbalance([[10.0]], [[7.0]], [100.0], activated_MW=[[-3.0]])
    assert r["position_MW"][0, 0] == 0.0
    # random parties, with mFRR prices and orders from the merit order
    rng = np.random.default_rng(3)
    N, T = 7, 4
    sched = rng.normal(5, 3, (N, T))
    met = sched + rng.normal(0, 1, (N, T))
    mf = activate_mfrr(_mfrr_bids(), [-15.0, 8.0, 0.0, -5.0], [60.0] * 4)
    act = np.zeros((N, T))
    act[: len(mf.bidders)] = mf.setpoint_delta_MW
    r = settle_imbalance(sched, met, mf.balancing_price_EUR_per_MWh, activated_MW=act)
    np.testing.assert_allclose(r["position_MW"].sum(axis=0) + r["tso_position_MW"], 0, atol=1e-12)
    np.testing.assert_allclose(r["cost_EUR"].sum(axis=0) + r["tso_cost_EUR"], 0.0, atol=1e-9)
    np.testing.assert_allclose(
        r["cost_EUR"], -(sched + act - met) * 0.25 * mf.balancing_price_EUR_per_MWh
    )
    with pytest.raises(ValueError, match="metered_MW has shape"):
        settle_imbalance(sched, met[:, :2], [1.0] * 4)


# ---------------------------------------------------------------------------------------------
# retail price composition, tariffs across DST and seasons, ledger
# ---------------------------------------------------------------------------------------------


def test_retail_components_across_dst_and_seasons() -> None:
    rp = RetailPriceModel()
    tou = DEFAULT_TOU_DKK_PER_MWH
    for day, n_low, n_total in ((date(2025, 3, 30), 20, 92), (date(2025, 10, 26), 28, 100)):
        t = delivery_mtus(day)
        c = rp.components(t, np.full(len(t), 80.0))
        season = "summer" if day.month == 4 else "winter"
        dso = c["dso_tariff_DKK_per_MWh"]
        assert len(t) == n_total
        assert (dso == tou[season]["lavlast"]).sum() == n_low  # 00-06 local: 5 h or 7 h
        assert (dso == tou[season]["spidslast"]).sum() == 16  # 17-21 local
        assert (dso == tou[season]["højlast"]).sum() == 56  # 06-17 and 21-24 local
        local = t.tz_convert("Europe/Copenhagen")
        assert np.all(dso[(local.hour >= 17) & (local.hour < 21)] == tou[season]["spidslast"])
    # season boundaries at LOCAL midnight (22:00 UTC in CEST)
    for last, first in (
        (date(2025, 9, 30), date(2025, 10, 1)),
        (date(2025, 3, 31), date(2025, 4, 1)),
    ):
        a, b = delivery_mtus(last), delivery_mtus(first)
        peak_a = rp.components(a[68:69], [0.0])["dso_tariff_DKK_per_MWh"][0]  # 17:00 local
        peak_b = rp.components(b[68:69], [0.0])["dso_tariff_DKK_per_MWh"][0]
        s_a = "summer" if last.month == 9 else "winter"
        s_b = "winter" if first.month == 10 else "summer"
        assert (peak_a, peak_b) == (tou[s_a]["spidslast"], tou[s_b]["spidslast"])
    # composition: components sum to the total, VAT 25 % of the rest, spot in DKK
    t = delivery_mtus(date(2025, 1, 15))[:4]
    c = rp.components(t, [100.0, -20.0, 0.0, 50.0], reduced_tax_frac=[[0.0], [1.0]])
    assert c["total_DKK_per_MWh"].shape == (2, 4)
    np.testing.assert_allclose(c["spot_DKK_per_MWh"][0], np.array([100, -20, 0, 50]) * 7.45)
    base = sum(c[k] for k in ("spot_DKK_per_MWh", "dso_tariff_DKK_per_MWh",
                              "tso_tariff_DKK_per_MWh", "electricity_tax_DKK_per_MWh"))  # fmt: skip
    np.testing.assert_allclose(c["vat_DKK_per_MWh"], 0.25 * base)
    np.testing.assert_allclose(c["total_DKK_per_MWh"], 1.25 * base)
    np.testing.assert_allclose(c["electricity_tax_DKK_per_MWh"][:, 0], [833.0, 412.0])


def test_ledger_components_and_reduced_tax_threshold() -> None:
    t = delivery_mtus(date(2025, 1, 15))[:4]  # 00:00-01:00 local, lavlast winter 90 DKK/MWh
    spot = np.array([100.0, 80.0, 60.0, 40.0])
    led = SettlementLedger(["hp", "agg"], households=[1.0, 10.0], E_year_start_kWh=[3999.5, 0])
    met = np.array([[4.0] * 4, [2.0] * 4])  # 1 MWh and 0.5 MWh per quarter-hour
    da = np.array([[4.0, 4.0, 3.0, 5.0], [2.0] * 4])
    out = led.post(
        t,
        spot,
        da,
        met,
        reserve_revenue_EUR=[[0.0] * 4, [10.0] * 4],
        activation_revenue_EUR=1.0,
        imbalance_cost_EUR=[[0, 0, 20.0, -8.0], [0] * 4],
    )
    k = 7.45
    np.testing.assert_allclose(out["energy_cost_DKK"][0], da[0] * 0.25 * spot * k)
    np.testing.assert_allclose(out["dso_tariff_cost_DKK"][0], 90.0)
    np.testing.assert_allclose(out["tso_tariff_cost_DKK"][0], 69.0)
    # 'hp' crosses 4000 kWh after 0.5 kWh of the first quarter-hour; 'agg' (10 homes) never
    tax0 = 0.0005 * FULL_ELECTRICITY_TAX_DKK_PER_MWH + 0.9995 * REDUCED_HEATING_TAX_DKK_PER_MWH
    np.testing.assert_allclose(out["tax_cost_DKK"][0], [tax0, 412.0, 412.0, 412.0])
    np.testing.assert_allclose(out["tax_cost_DKK"][1], 0.5 * 833.0)
    bill = (out["energy_cost_DKK"] + out["imbalance_cost_DKK"] + out["tariff_cost_DKK"]
            + out["tax_cost_DKK"])  # fmt: skip
    np.testing.assert_allclose(out["vat_cost_DKK"], 0.25 * bill)
    np.testing.assert_allclose(
        out["net_cost_DKK"],
        1.25 * bill - out["reserve_revenue_DKK"] - out["activation_revenue_DKK"],
    )
    np.testing.assert_allclose(out["reserve_revenue_DKK"][1], 74.5)
    np.testing.assert_allclose(led.E_year_kWh, [7999.5, 2000.0])
    led.post(t + pd.Timedelta(hours=1), spot, da, met)
    tot = led.totals()
    df = led.to_frame()
    assert len(df) == 16
    np.testing.assert_allclose(
        df.groupby("participant")["net_cost_DKK"].sum()[["hp", "agg"]], tot["net_cost_DKK"]
    )
    with pytest.raises(ValueError, match="households must be > 0"):
        SettlementLedger(["a"], households=0.0)
    with pytest.raises(ValueError, match="vat_frac=1.5"):
        RetailPriceModel(vat_frac=1.5)

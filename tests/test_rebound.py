"""Demand-response events, release mitigations and rebound KPIs."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from scenarios.rebound import bin_means, energy_bookkeeping, interval_lengths_s, rebound_kpis
from simulators.events import (
    P_MIN_14A_KW,
    RAMP_FRAC_PER_S_REF,
    RAMP_WINDOW_S_REF,
    Event,
    EventSchedule,
    Mitigation,
    peak_tariff_event,
    release_window_sums,
)

H = 3600.0

# --------------------------------------------------------------------------------------------
# Events and mitigations
# --------------------------------------------------------------------------------------------


def test_block_targets_share_and_states() -> None:
    ev = [Event("sg_block", 17 * H, 2 * H, share=0.5),
          Event("sg_forced", 16 * H, 2 * H, share=1.0)]
    sch = EventSchedule(200, ev, seed=3)
    before = sch.at(15 * H)
    assert (before["sg_ready_state"] == 2).all() and np.isnan(before["P_limit_kW"]).all()
    forced = sch.at(16.5 * H)
    assert (forced["sg_ready_state"] == 4).all()
    both = sch.at(17.5 * H)  # block wins over the start command where both apply
    assert int((both["sg_ready_state"] == 1).sum()) == 100
    assert set(np.unique(both["sg_ready_state"])) == {1, 4}
    after = sch.at(19 * H)
    assert (after["sg_ready_state"] == 2).all() and not after["in_event"].any()
    # stable: same seed -> same units; another seed -> other units
    again = EventSchedule(200, ev, seed=3).at(17.5 * H)["sg_ready_state"]
    np.testing.assert_array_equal(again, both["sg_ready_state"])
    other = EventSchedule(200, ev, seed=4).at(17.5 * H)["sg_ready_state"]
    assert not np.array_equal(other, both["sg_ready_state"])


def test_block_longer_than_two_hours_is_rejected() -> None:
    with pytest.raises(ValueError, match="2 h"):
        EventSchedule(10, [Event("sg_block", 0.0, 2 * H + 1)])
    with pytest.raises(ValueError, match="kind"):
        Event("blackout", 0.0, 60.0)
    with pytest.raises(ValueError, match="share"):
        Event("sg_block", 0.0, 60.0, share=1.5)


def test_randomised_restart_offsets_are_stable_and_in_window() -> None:
    m = Mitigation(restart_window_s=3600.0)
    ev = [Event("sg_block", 17 * H, 2 * H, mitigation=m)]
    a = EventSchedule(500, ev, seed=11)
    start, end = a.windows(0)
    off = end - 19 * H
    assert off.min() >= 0.0 and off.max() <= 3600.0
    assert off.mean() == pytest.approx(1800.0, rel=0.1)  # U(0, 60 min)
    np.testing.assert_array_equal(EventSchedule(500, ev, seed=11).windows(0)[1], end)
    assert not np.array_equal(EventSchedule(500, ev, seed=12).windows(0)[1], end)
    # the commands follow the offsets: blocked exactly until each unit's own release
    t = 19 * H + 900.0
    np.testing.assert_array_equal(a.at(t)["sg_ready_state"] == 1, end > t)
    # querying order does not matter (pure function of t)
    np.testing.assert_array_equal(a.at(t)["sg_ready_state"], a.at(t)["sg_ready_state"])


def test_ramp_limited_release_respects_reference_limit() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(1.0, 3.0, 300)  # curtailed power per unit, kW
    m = Mitigation(ramp_frac_per_s=RAMP_FRAC_PER_S_REF, ramp_window_s=RAMP_WINDOW_S_REF)
    sch = EventSchedule(300, [Event("sg_block", 0.0, H, mitigation=m)], seed=2, P_weight_kW=w)
    rel = sch.windows(0)[1]
    sums = release_window_sums(rel, w, RAMP_WINDOW_S_REF)
    # ≤ 2.5 %/s as a 10-s mean: at most 25 % of the curtailed power released in any 10 s
    assert sums.max() <= 0.025 * 10.0 * w.sum() * (1 + 1e-9)
    # so 100 % needs at least 3 further windows after the first: ≥ 30 s, and the greedy
    # release is not slower than ~ 1/0.025 s = 40 s plus one window
    span = rel.max() - rel.min()
    assert 30.0 <= span <= 50.0
    # no single unit above 20 % of the curtailed power (reference: no step > 20 %)
    assert w.max() / w.sum() < 0.2
    # combined with a randomised restart the ramp limit still holds
    m2 = Mitigation(restart_window_s=600.0, ramp_frac_per_s=0.025)
    rel2 = EventSchedule(300, [Event("sg_block", 0.0, H, mitigation=m2)], seed=2,
                         P_weight_kW=w).windows(0)[1]
    assert release_window_sums(rel2, w, 10.0).max() <= 0.25 * w.sum() * (1 + 1e-9)
    assert rel2.min() >= H


def test_staggered_groups_guaranteed_minimum_and_dimming() -> None:
    m = Mitigation(stagger_groups=3, stagger_interval_s=600.0)
    sch = EventSchedule(90, [Event("sg_block", 0.0, H, mitigation=m)], seed=1)
    offs, counts = np.unique(sch.windows(0)[1] - H, return_counts=True)
    np.testing.assert_allclose(offs, [0.0, 600.0, 1200.0])
    assert counts.tolist() == [30, 30, 30]
    gm = EventSchedule(5, [Event("sg_block", 0.0, H,
                                 mitigation=Mitigation(guaranteed_min_kW=P_MIN_14A_KW))])
    c = gm.at(100.0)
    assert (c["sg_ready_state"] == 2).all()
    np.testing.assert_allclose(c["P_limit_kW"], 4.2)
    dim = EventSchedule(5, [Event("dimming_14a", 0.0, H, P_limit_kW=2.0)]).at(10.0)
    np.testing.assert_allclose(dim["P_limit_kW"], 4.2)  # never below the §14a minimum
    dim6 = EventSchedule(5, [Event("dimming_14a", 0.0, H, P_limit_kW=6.0)]).at(10.0)
    np.testing.assert_allclose(dim6["P_limit_kW"], 6.0)


def test_evu_rule_minimum_recovery_and_daily_limits() -> None:
    blocks = [Event("sg_block", s * H, 2 * H) for s in (0, 3, 8, 12, 16)]
    evu = Mitigation.evu_rule()
    sch = EventSchedule(4, [Event(e.kind, e.start_s, e.duration_s, mitigation=evu)
                            for e in blocks], start=datetime(2024, 1, 15, 23, 0))
    # local midnight (CET) is at t = 0 here, so all five blocks fall on one local day
    w = [sch.windows(k) for k in range(5)]
    assert w[0][0][0] == 0.0 and w[0][1][0] == 2 * H
    # the second block may start only 2 h after the first ended: 4 h, so it lasts 1 h
    assert w[1][0][0] == 4 * H and w[1][1][0] == 5 * H
    assert w[2][0][0] == 8 * H and w[2][1][0] == 10 * H
    # at most 3 blocks a day: the 4th and 5th are not applied
    assert np.isnan(w[3][0]).all() and np.isnan(w[4][0]).all()
    assert (sch.at(13 * H)["sg_ready_state"] == 2).all()
    # without the rule all five apply as given
    plain = EventSchedule(4, blocks)
    assert (plain.at(13 * H)["sg_ready_state"] == 1).all()
    assert (plain.at(3.5 * H)["sg_ready_state"] == 1).all()


def test_price_spike_and_peak_tariff_window() -> None:
    start = datetime(2024, 1, 15)  # 00:00 UTC = 01:00 local (CET)
    pt = peak_tariff_event(start, start, 1200.0)
    assert pt.start_s == 16 * H and pt.duration_s == 4 * H  # 17-21 local
    spike = Event("price_spike", 17 * H, H, price_adder_DKK_per_MWh=3000.0, share=0.5)
    sch = EventSchedule(10, [pt, spike], seed=0)
    np.testing.assert_allclose(sch.at(16.5 * H)["price_adder_DKK_per_MWh"], 1200.0)
    p = sch.at(17.5 * H)["price_adder_DKK_per_MWh"]
    assert sorted(np.unique(p).tolist()) == [1200.0, 4200.0]
    assert int((p == 4200.0).sum()) == 5
    np.testing.assert_allclose(sch.at(20.5 * H)["price_adder_DKK_per_MWh"], 0.0)


# --------------------------------------------------------------------------------------------
# Rebound KPIs
# --------------------------------------------------------------------------------------------


def _synthetic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 h at 60 s: counterfactual 100 kW; event run 0 kW in [2 h, 4 h), 180 kW in [4 h, 5 h)."""
    t = np.arange(0.0, 10 * H, 60.0)
    cf = np.full(t.size, 100.0)
    ev = cf.copy()
    ev[(t >= 2 * H) & (t < 4 * H)] = 0.0
    ev[(t >= 4 * H) & (t < 5 * H)] = 180.0
    return t, ev, cf


def test_synthetic_rebound_kpis_by_hand() -> None:
    t, ev, cf = _synthetic()
    n_bus = 2
    loading_ev, loading_cf = ev * 0.6, cf * 0.6  # % of rating: 108 % in the rebound hour
    v_ev = np.repeat((1.0 - 0.0006 * ev)[:, None], n_bus, axis=1)  # 0.892 p.u. at 180 kW
    v_cf = np.repeat((1.0 - 0.0006 * cf)[:, None], n_bus, axis=1)
    t_cf = np.full((t.size, 3), 21.0)
    t_ev = t_cf.copy()
    t_ev[(t >= 2 * H) & (t < 4 * H)] -= 1.0  # 1 K colder for 2 h in 3 houses
    k = rebound_kpis(t, ev, cf, 2 * H, 4 * H, trafo_loading_pct=loading_ev,
                     trafo_loading_cf_pct=loading_cf, v_pu=v_ev, v_cf_pu=v_cf,
                     T_room_event_C=t_ev, T_room_cf_C=t_cf)
    assert k["curtailed_kWh"] == pytest.approx(200.0)  # 100 kW x 2 h
    assert k["payback_kWh"] == pytest.approx(80.0)  # 80 kW x 1 h
    assert k["payback_ratio"] == pytest.approx(0.4)
    assert k["rebound_peak_kW"] == pytest.approx(180.0)
    assert k["rebound_peak_vs_cf"] == pytest.approx(1.8)
    assert k["baseline_kW"] == pytest.approx(100.0)
    assert k["rebound_peak_vs_baseline"] == pytest.approx(1.8)
    assert k["rebound_duration_h"] == pytest.approx(1.0)
    assert k["coincident_peak_ratio"] == pytest.approx(1.8)
    assert k["trafo_loading_max_pct"] == pytest.approx(108.0)
    assert k["trafo_overload_h"] == pytest.approx(1.0)
    assert k["trafo_overload_h_cf"] == 0.0 and k["trafo_loading_max_pct_cf"] == pytest.approx(60)
    assert k["v_min_pu"] == pytest.approx(0.892)
    # 6 of the 60 ten-minute means per bus lie below 0.9 p.u.
    assert k["v_10min_outside_share"] == pytest.approx(0.1)
    assert k["v_10min_outside_share_cf"] == 0.0 and k["v_10min_below_85_share"] == 0.0
    assert k["comfort_debt_Kh"] == pytest.approx(6.0)
    assert k["comfort_debt_per_house_Kh"] == pytest.approx(2.0)


def test_bin_means_exact_on_irregular_samples() -> None:
    t = np.array([0.0, 100.0, 700.0, 1000.0])
    v = np.array([1.0, 2.0, 4.0, 8.0])
    dt = interval_lengths_s(t, step_s=200.0)  # last sample holds 200 s
    starts, means = bin_means(t, dt, v, 600.0)
    np.testing.assert_allclose(starts, [0.0, 600.0])
    # bin 1: 100 s at 1 + 500 s at 2; bin 2: 100 s at 2 + 300 s at 4 + 200 s at 8
    np.testing.assert_allclose(means, [(100 + 1000) / 600, (200 + 1200 + 1600) / 600])
    with pytest.raises(ValueError, match="increasing"):
        interval_lengths_s(np.array([0.0, 0.0]))


def _rc_run(block: tuple[float, float] | None, dt: float = 60.0, hours: float = 30.0):
    """One RC house (C = 10 kWh/K, H = 0.2 kW/K, T_out = 0 °C) under a P-controller with
    feed-forward (Q = 4.2 + 2·(21 − T) kW, clipped to [0, 10]); heat blocked in ``block``."""
    c_kwh, h_kw, t_out, t_set = 10.0, 0.2, 0.0, 21.0
    t = np.arange(0.0, hours * H, dt)
    temp = np.empty(t.size)
    q = np.empty(t.size)
    x = t_set
    decay = math.exp(-h_kw * dt / H / c_kwh)
    for i, ti in enumerate(t):
        qi = min(max(h_kw * (t_set - t_out) + 2.0 * (t_set - x), 0.0), 10.0)
        if block is not None and block[0] <= ti < block[1]:
            qi = 0.0
        temp[i], q[i] = x, qi
        x_inf = t_out + qi / h_kw
        x = x_inf + (x - x_inf) * decay
    return t, q, temp, x, h_kw, c_kwh


def test_energy_bookkeeping_closes_on_rc_house() -> None:
    t, q_ev, temp_ev, x_end_ev, h_kw, c_kwh = _rc_run((6 * H, 8 * H))
    _, q_cf, temp_cf, x_end_cf, _, _ = _rc_run(None)
    k = rebound_kpis(t, q_ev, q_cf, 6 * H, 8 * H, window_after_s=22 * H,
                     T_room_event_C=temp_ev, T_room_cf_C=temp_cf)
    # counterfactual holds 21 °C with 0.2 kW/K x 21 K = 4.2 kW: 2 h blocked = 8.4 kWh
    assert k["curtailed_kWh"] == pytest.approx(8.4, rel=1e-9)
    assert 0.0 < k["payback_kWh"] < k["curtailed_kWh"]
    # the house was never warmer than the counterfactual: comfort debt = signed deficit
    assert (temp_ev <= temp_cf + 1e-12).all()
    # exact integral of the temperature deficit over each step (first-order response)
    book = energy_bookkeeping(k["curtailed_kWh"], k["payback_kWh"], h_kw, k["comfort_debt_Kh"],
                              c_kwh, x_end_cf - x_end_ev)
    # curtailed − payback = losses avoided (H x debt) + heat still owed (C x ΔT_end)
    assert abs(book["residual_kWh"]) < 0.01 * k["curtailed_kWh"]
    # the 2-h block costs about H·ΔT_mean·t ≈ 0.2 kW/K x ~0.5 K x several h of avoided losses
    assert 0.2 < book["net_avoided_kWh"] < 4.0

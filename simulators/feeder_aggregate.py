"""Aggregate grid stage: house loads summed per MV/LV transformer, no power flow.

For fleets too large to solve every low-voltage bus (issue #9: 10 000 houses × one week), the
DSO's first question is still answered — how loaded are the secondary substations — without a
power flow per house bus. :class:`TransformerAggregate` deals the N houses to
``ceil(N / houses_per_transformer)`` substations exactly as :func:`simulators.feeder.
danish_feeder_net` does (contiguous blocks, sizes differing by at most one) and returns, per
step, the same keys as :meth:`simulators.feeder.Feeder.step`:

* transformer loading = S / S_r · 100 %, S = Σ P_house / cos φ + transformer losses (apparent
  power at the 0.4 kV side; the feeders' own cable losses are not modelled, so loading is
  slightly low — 1–3 % of the load on the bundled grid, see docs/scenarios/kickback.md);
* transformer losses from the pandapower standard type: no-load loss P0 + copper loss
  u_kr/100 · S_r · (S/S_r)² (the textbook two-term model; pandapower's π-model gives the same
  within the voltage drop);
* P_grid = Σ P + losses; voltages and line loadings are NaN (not computed in this mode).

Units: kW, kVA, % of rating; consumption positive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandapower as pp

from simulators.feeder import POWER_FACTOR_DEFAULT

__all__ = ["TransformerAggregate"]


class TransformerAggregate:
    """Per-transformer sums of N house loads (the ``network = "aggregate"`` grid stage)."""

    def __init__(self, n_houses: int, houses_per_transformer: int = 200, *,
                 trafo_std_type: str = "0.4 MVA 10/0.4 kV",
                 power_factor: float = POWER_FACTOR_DEFAULT) -> None:
        """Args:
            n_houses: N (>= 1).
            houses_per_transformer: houses per MV/LV substation (>= 1).
            trafo_std_type: pandapower transformer standard type (rating and losses).
            power_factor: displacement power factor of the houses, (0, 1].
        """
        if isinstance(n_houses, bool) or not isinstance(n_houses, int | np.integer) \
                or n_houses < 1:
            raise ValueError(f"TransformerAggregate n_houses={n_houses!r}; allowed: an integer "
                             ">= 1")
        if isinstance(houses_per_transformer, bool) or not isinstance(
                houses_per_transformer, int | np.integer) or houses_per_transformer < 1:
            raise ValueError(f"TransformerAggregate houses_per_transformer="
                             f"{houses_per_transformer!r}; allowed: an integer >= 1")
        pf = float(power_factor)
        if not (math.isfinite(pf) and 0.0 < pf <= 1.0):
            raise ValueError(f"TransformerAggregate power_factor={power_factor!r}; allowed: a "
                             "number in (0, 1]")
        try:
            st = pp.load_std_type(pp.create_empty_network(), trafo_std_type, "trafo")
        except Exception as exc:  # pandapower raises UserWarning for unknown types
            raise ValueError(f"TransformerAggregate trafo_std_type={trafo_std_type!r}: not a "
                             "pandapower transformer standard type") from exc
        n = int(n_houses)
        n_sub = math.ceil(n / int(houses_per_transformer))
        sizes = np.full(n_sub, n // n_sub)
        sizes[: n % n_sub] += 1
        self.n = n
        self.n_trafo = n_sub
        self.trafo_of_house = np.repeat(np.arange(n_sub), sizes)
        self.houses_per_trafo = sizes
        self.sn_kVA = float(st["sn_mva"]) * 1000.0
        self.P0_kW = float(st["pfe_kw"])
        self.vkr_frac = float(st["vkr_percent"]) / 100.0
        self.power_factor = pf
        self.n_power_flows = 0
        self.E_loss_kWh = 0.0
        self.solver = "aggregate"

    def step(self, dt_s: float, P_kW: float | np.ndarray) -> dict[str, Any]:
        """Sum the houses' powers (kW, (N,) or scalar) per transformer for an interval of
        ``dt_s`` seconds; keys as :meth:`simulators.feeder.Feeder.step` (NaN where not
        computed)."""
        dt = float(dt_s)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"TransformerAggregate dt_s={dt_s!r}; allowed: a finite number > 0")
        p = np.broadcast_to(np.asarray(P_kW, dtype=float), (self.n,))
        if not np.isfinite(p).all():
            raise ValueError("TransformerAggregate P_kW: non-finite value; allowed: finite kW")
        p_tr = np.bincount(self.trafo_of_house, weights=p, minlength=self.n_trafo)
        s_load = np.abs(p_tr) / self.power_factor
        loss = self.P0_kW + self.vkr_frac * self.sn_kVA * (s_load / self.sn_kVA) ** 2
        p_hv = p_tr + loss
        loading = (s_load + loss) / self.sn_kVA * 100.0
        total_loss = float(loss.sum())
        self.E_loss_kWh += total_loss * dt / 3600.0
        self.n_power_flows += 1
        nan = math.nan
        return {
            "trafo_loading_pct": loading, "P_trafo_kW": p_hv, "v_bus_pu": np.zeros(0),
            "v_house_pu": np.full(self.n, nan), "line_loading_pct": np.zeros(0),
            "trafo_loading_max_pct": float(loading.max()), "line_loading_max_pct": nan,
            "v_min_pu": nan, "v_max_pu": nan, "P_loss_kW": total_loss,
            "P_grid_kW": float(p_hv.sum()), "converged": True,
        }

"""Domestic hot-water (DHW) draw: seeded stochastic tapping events for a fleet of N houses.

A model core (numpy + SimPy, no mosaik). The demand is HEAT at the tap relative to cold mains
water, in kW. For every house a SimPy process walks through the run week by week (weeks of
seven local days starting at local midnight, DST-correct), draws that week's daily energies and
schedules the week's tapping events (hand wash, kitchen, shower, bath). The events are then
turned into a piecewise-linear cumulative energy per house, so :meth:`DhwDemand.mean_kW` is the
EXACT mean over any interval (events straddling a step boundary are split exactly) and costs a
few vectorised look-ups per call. Equations, parameters and sources: ``docs/models/demand.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import simpy

LOCAL_TZ: str = "Europe/Copenhagen"
"""Time zone of the daily tapping profile."""

SECONDS_PER_HOUR: float = 3600.0

KWH_PER_DAY_DEFAULT: float = 8.0
"""Default DHW heat per house, kWh/day. [DERIVED] iPower Table 20 (2035): hot-water share x
heat demand per house = 0.14 x 21.2 / 0.16 x 16.5 / 0.28 x 11.1 MWh/yr ~ 3.0 / 2.6 / 3.1 MWh/yr
~ 7-8.5 kWh/day (ref. iPower §2.6-2.7)."""

DEFAULT_PROFILE: tuple[float, ...] = (
    1.0, 0.5, 0.3, 0.3, 0.5, 1.5, 4.5, 8.5, 7.5, 5.5, 4.5, 4.0,
    4.5, 3.5, 3.0, 3.0, 3.5, 5.0, 6.0, 6.5, 6.5, 6.5, 4.5, 2.5,
)  # fmt: skip
"""Relative probability of a tapping starting in each LOCAL hour 0..23 (normalised to 1).
Documented assumption of this project: a smoothed profile with the night minimum, the morning
peak (06-09) and the evening peak (18-22) common to the DHWcalc default daily probability
(Jordan & Vajen, IEA SHC Task 26) and the EN 16147 / EN 13203-2 tapping cycles (main taps at
07:00-09:00 and 20:30-21:30). Not fitted to measurements; replace via ``profile=``."""


@dataclass(frozen=True)
class TapKind:
    """One kind of tapping.

    Attributes:
        name: label used in :attr:`DhwDemand.events`.
        energy_kWh: nominal heat per tapping, kWh (before scaling to the daily energy).
        duration_s: nominal duration, s (nominal power = energy / duration).
        per_day: expected number per house and day (Poisson).
    """

    name: str
    energy_kWh: float
    duration_s: float
    per_day: float


DEFAULT_TAP_KINDS: tuple[TapKind, ...] = (
    TapKind("hand_wash", 0.105, 60.0, 6.0),
    TapKind("kitchen", 0.315, 90.0, 4.0),
    TapKind("shower", 1.4, 360.0, 2.0),
    TapKind("bath", 3.605, 600.0, 0.15),
)
"""Nominal energies are the EN 16147 / EN 13203-2 tapping energies (small 0.105 kWh,
dishwashing 0.315 kWh, shower 1.4 kWh, bath 3.605 kWh); durations follow from typical flows
(3 / 4 / 6 / 10 L/min at 30-45 K rise); daily counts are an assumption for a ~2-3 person house.
Nominal daily total 5.23 kWh in 12.15 taps; the energies are scaled to ``kwh_per_day``."""


def _fleet_array(name: str, value: float | Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    """Broadcast a scalar or length-n array to a fresh float64 array of shape (n,)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {arr.shape}")
    return arr.copy()


class DhwDemand:
    """DHW heat demand at the tap of N houses, from seeded stochastic tapping events.

    Each local day, house i gets Poisson(``per_day``) taps of each kind, starting at a local
    hour drawn from ``profile`` (uniform within the hour), with energy
    ``nominal * LogN(0, tap_sigma)`` and a constant power ``nominal power * LogN(0, power_sigma)``
    (durations rounded to whole seconds >= 1). The energies of each week's taps (weeks of seven
    local days from the local midnight before ``start``) are scaled together so the week sums to
    exactly ``7 * kwh_per_day_i``: daily energy varies (compound Poisson, sd ~50 %), the weekly
    and hence long-run mean is exact.
    Taps that would start before t = 0 or at/after ``duration_s`` are not part of the run;
    a tap running past ``duration_s`` is cut there (energy pro rata).

    Memory ~ 95 bytes per tap (~1.2 kB per house-day; 1000 houses x 1 year ~ 0.4 GB); pass
    ``keep_events=False`` to drop the event table (~30 B per tap) for large fleets.
    """

    def __init__(
        self,
        n: int,
        start: datetime,
        duration_s: float,
        seed: int = 0,
        kwh_per_day: float | Sequence[float] | np.ndarray = KWH_PER_DAY_DEFAULT,
        profile: Sequence[float] | None = None,
        *,
        kinds: Sequence[TapKind] = DEFAULT_TAP_KINDS,
        tap_sigma: float = 0.35,
        power_sigma: float = 0.2,
        keep_events: bool = True,
        tz: str = LOCAL_TZ,
    ) -> None:
        """
        Args:
            n: number of houses (>= 1).
            start: UTC time of t = 0 (naive = UTC).
            duration_s: length of the run, s (> 0); :meth:`mean_kW` covers [0, duration_s].
            seed: non-negative seed; same seed -> identical events; house i uses the stream
                (seed, i), so it does not depend on n.
            kwh_per_day: mean DHW heat per house, kWh/day, scalar or (n,).
            profile: 24 non-negative weights of tap starts per local hour (default
                :data:`DEFAULT_PROFILE`).
            kinds: tapping kinds (default :data:`DEFAULT_TAP_KINDS`).
            tap_sigma: log-sd of a tap's energy around its nominal value (-).
            power_sigma: log-sd of a tap's power around its nominal value (-).
            keep_events: keep the event table for :attr:`events`.
            tz: local time zone of the profile.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n={n!r} must be a whole number >= 1")
        self.n = int(n)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed={seed!r} must be a whole number >= 0")
        dur = float(duration_s)
        if not math.isfinite(dur) or dur <= 0:
            raise ValueError(f"duration_s={duration_s!r} must be a finite number > 0")
        self.duration_s = dur
        ts = pd.Timestamp(start)
        self.start = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        self.kwh_per_day = _fleet_array("kwh_per_day", kwh_per_day, self.n)
        if not np.all(np.isfinite(self.kwh_per_day)) or np.any(self.kwh_per_day < 0):
            raise ValueError(f"kwh_per_day={kwh_per_day!r} must be finite and >= 0")
        prof = np.asarray(DEFAULT_PROFILE if profile is None else profile, dtype=np.float64)
        if prof.shape != (24,) or not np.all(np.isfinite(prof)) or np.any(prof < 0):
            raise ValueError(
                f"profile must be 24 finite weights >= 0 (local hours 0..23), got {profile!r}"
            )
        if prof.sum() <= 0:
            raise ValueError("profile must have a positive sum")
        self.profile = prof / prof.sum()
        self._cdf = np.cumsum(self.profile)
        for name, v in (("tap_sigma", tap_sigma), ("power_sigma", power_sigma)):
            if not math.isfinite(float(v)) or float(v) < 0:
                raise ValueError(f"{name}={v!r} must be a finite number >= 0")
        self.kinds = tuple(kinds)
        if not self.kinds:
            raise ValueError("kinds must not be empty")
        for k in self.kinds:
            if not (k.energy_kWh > 0 and k.duration_s > 0 and k.per_day >= 0):
                raise ValueError(
                    f"tap kind {k!r}: energy_kWh and duration_s must be > 0, per_day >= 0"
                )
        if sum(k.per_day for k in self.kinds) <= 0:
            raise ValueError("kinds: at least one kind needs per_day > 0")
        self.tz = tz
        self._sig = (float(tap_sigma), float(power_sigma))
        self._seed = int(seed)

        k_n = len(self.kinds)
        self._e_k = np.array([k.energy_kWh for k in self.kinds])
        self._p_k = self._e_k * SECONDS_PER_HOUR / np.array([k.duration_s for k in self.kinds])
        self._lam7 = np.tile(np.array([k.per_day for k in self.kinds]), 7)  # (day, kind) flat
        self._kind7 = np.tile(np.arange(k_n), 7)
        self._day7 = np.repeat(np.arange(7), k_n)
        self._build_calendar()
        ev = self._simulate()
        self._build_cumulative(ev)
        self._events = ev if keep_events else None

    # ------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------
    def _build_calendar(self) -> None:
        """Local days overlapping the run: start of each local hour in run seconds, (D, 24)."""
        end = self.start + pd.Timedelta(seconds=self.duration_s)
        d0 = self.start.tz_convert(self.tz).tz_localize(None).normalize()
        d1 = end.tz_convert(self.tz).tz_localize(None).normalize()
        days = pd.date_range(d0, d1, freq="D")
        naive = (days.to_numpy()[:, None] + np.arange(24) * np.timedelta64(1, "h")).ravel()
        local = pd.DatetimeIndex(naive).tz_localize(
            self.tz, nonexistent="shift_forward", ambiguous=True
        )
        rel = np.asarray((local.tz_convert("UTC") - self.start).total_seconds(), dtype=np.float64)
        self._hour_start = rel.reshape(len(days), 24)
        self._day_start = self._hour_start[:, 0].copy()

    def _simulate(self) -> dict[str, np.ndarray]:
        """Run one SimPy process per house; returns the concatenated, sorted event arrays."""
        env = simpy.Environment(initial_time=float(self._day_start[0]))
        chunks: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(self.n)]
        ss = np.random.SeedSequence
        for i in range(self.n):
            rng = np.random.default_rng(ss([self._seed, i]))
            env.process(self._house(env, i, rng, chunks[i]))
        env.run()
        sizes = np.array([sum(c[0].size for c in house) for house in chunks], dtype=np.int64)
        parts = [c for house in chunks for c in house]
        names = ("start_s", "duration_s", "energy_kWh", "kind")
        dtypes = (np.float64, np.float64, np.float64, np.int8)
        ev = {
            k: np.concatenate([p[j] for p in parts]).astype(d, copy=False)
            if parts
            else np.empty(0, dtype=d)
            for j, (k, d) in enumerate(zip(names, dtypes, strict=True))
        }
        ev["house"] = np.repeat(np.arange(self.n, dtype=np.int32), sizes)
        order = np.lexsort((ev["start_s"], ev["house"]))
        return {k: v[order] for k, v in ev.items()}

    def _house(self, env: simpy.Environment, i: int, rng: np.random.Generator, out: list):
        """SimPy process of house i: at each local week start, schedule the week's taps."""
        n_days = len(self._day_start)
        for w0 in range(0, n_days, 7):
            t_week = float(self._day_start[w0])
            if t_week > env.now:
                yield env.timeout(t_week - env.now)
            week = self._draw_week(rng, i, w0, min(7, n_days - w0))
            if week is not None:
                out.append(week)

    def _draw_week(
        self, rng: np.random.Generator, i: int, w0: int, nd: int
    ) -> tuple[np.ndarray, ...] | None:
        """Taps of house i for local days w0 .. w0+nd-1: (start_s, duration_s, kWh, kind)."""
        tap_sig, pow_sig = self._sig
        nk = nd * len(self.kinds)
        counts = rng.poisson(self._lam7[:nk])
        if not counts.any():
            counts[int(np.argmax(self._lam7[: len(self.kinds)]))] = 1
        kind = np.repeat(self._kind7[:nk], counts)
        day = np.repeat(self._day7[:nk], counts)
        m = kind.size
        z = rng.standard_normal((2, m))
        u = rng.random((2, m))
        if self.kwh_per_day[i] <= 0:
            return None
        e_nom = self._e_k[kind] * np.exp(tap_sig * z[0] - 0.5 * tap_sig**2)
        energy = e_nom * (nd * self.kwh_per_day[i] / e_nom.sum())  # weekly budget, exact
        hour = np.minimum(np.searchsorted(self._cdf, u[0], side="right"), 23)
        start = self._hour_start[w0 + day, hour] + np.floor(u[1] * SECONDS_PER_HOUR)
        power = self._p_k[kind] * np.exp(pow_sig * z[1] - 0.5 * pow_sig**2)
        dur = np.maximum(1.0, np.round(energy * (SECONDS_PER_HOUR / power)))
        end = start + dur
        if start.min() < 0.0 or end.max() > self.duration_s:  # first / last week of the run
            keep = (start >= 0.0) & (start < self.duration_s)
            start, dur, energy, kind, end = (a[keep] for a in (start, dur, energy, kind, end))
            over = end > self.duration_s
            if np.any(over):
                cut = self.duration_s - start[over]
                energy[over] *= cut / dur[over]
                dur[over] = cut
        return (start, dur, energy, kind)

    def _build_cumulative(self, ev: dict[str, np.ndarray]) -> None:
        """Per-house piecewise-linear cumulative energy E_i(t), kWh, at all tap starts/ends.

        Breakpoints of house i: t = 0, every tap start and end, t = duration_s. The rate after a
        breakpoint (kW) is the sum of the powers of the taps running; E is its exact integral.
        """
        n, T = self.n, self.duration_s
        self._span = float(math.floor(T) + 2.0)  # > T: keeps the houses' key ranges apart
        houses = np.arange(n, dtype=np.float64)
        bounds_ev = np.searchsorted(ev["house"], np.arange(n + 1))
        keys, energies, rates = [], [], []
        for i in range(n):
            a, b = bounds_ev[i], bounds_ev[i + 1]
            s0, dur, e = ev["start_s"][a:b], ev["duration_s"][a:b], ev["energy_kWh"][a:b]
            power = e * SECONDS_PER_HOUR / dur
            t = np.concatenate(([0.0], s0, s0 + dur, [T]))
            delta = np.concatenate(([0.0], power, -power, [0.0]))
            order = np.argsort(t, kind="stable")
            t, delta = t[order], delta[order]
            first = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1])))
            ut = t[first]
            r = np.cumsum(np.add.reduceat(delta, first))
            r[r < 1e-9 * max(1.0, float(r.max()))] = 0.0  # round-off of +P-P; rate >= 0
            r[-1] = 0.0
            energy = np.empty_like(ut)
            energy[0] = 0.0
            np.cumsum(r[:-1] * np.diff(ut) / SECONDS_PER_HOUR, out=energy[1:])
            keys.append(i * self._span + ut)
            energies.append(energy)
            rates.append(r)
        # Breakpoint arrays (+ a final +inf key): key = house * span + t (exact for whole-second
        # t), cumulative energy E_kWh at the breakpoint, rate_kW after it.
        self._key = np.concatenate([*keys, [np.inf]])
        self._E = np.concatenate([*energies, [0.0]])
        self._rate = np.concatenate([*rates, [0.0]])
        bounds = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([k.size for k in keys], out=bounds[1:])
        self._base = houses * self._span
        self._block_start = bounds[:-1].astype(np.int64)
        self._cursor = self._block_start.copy()
        c = self._cursor
        self._cur_key = self._key.take(c)
        self._next_key = self._key.take(c + 1)
        self._cur_t = self._cur_key - self._base
        self._cur_E = self._E.take(c)
        self._cur_rate = self._rate.take(c)
        self._cache_t: float | None = None
        self._cache_E: np.ndarray | None = None

    # ------------------------------------------------------------------------------------------
    # queries
    # ------------------------------------------------------------------------------------------
    def _check_t(self, name: str, t: float) -> float:
        x = float(t)
        if not (0.0 <= x <= self.duration_s):
            raise ValueError(f"{name}={t!r} is outside the run [0, {self.duration_s:g}] s")
        return x

    def _seek(self, houses: np.ndarray, q: np.ndarray) -> None:
        """Move the cursors of ``houses`` to the breakpoint segment containing keys ``q``."""
        key = self._key
        c = self._cursor[houses]
        todo = np.arange(houses.size)
        for _ in range(3):  # sequential stepping: usually the next breakpoint or two
            ct, qt = c[todo], q[todo]
            ct = np.where(key.take(ct + 1) <= qt, ct + 1, ct)
            c[todo] = ct
            todo = todo[~((key.take(ct) <= qt) & (qt < key.take(ct + 1)))]
            if todo.size == 0:
                break
        if todo.size:  # random access: binary search
            c[todo] = np.maximum(
                np.searchsorted(key, q[todo], side="right") - 1, self._block_start[houses[todo]]
            )
        self._cursor[houses] = c
        self._cur_key[houses] = key.take(c)
        self._next_key[houses] = key.take(c + 1)
        self._cur_t[houses] = key.take(c) - self._base[houses]
        self._cur_E[houses] = self._E.take(c)
        self._cur_rate[houses] = self._rate.take(c)

    def _energy_at(self, t: float) -> np.ndarray:
        """Cumulative DHW energy E_i(t) since t = 0, kWh, (N,). Per-house cursors make
        sequential calls O(N) with O(houses that crossed a breakpoint) extra work."""
        if self._cache_t == t and self._cache_E is not None:
            return self._cache_E
        q = self._base + t
        bad = np.flatnonzero((q >= self._next_key) | (q < self._cur_key))
        if bad.size:
            self._seek(bad, q[bad])
        e = self._cur_E + self._cur_rate * ((t - self._cur_t) / SECONDS_PER_HOUR)
        self._cache_t, self._cache_E = t, e
        return e

    def energy_kWh(self, t0_s: float, t1_s: float) -> np.ndarray:
        """DHW heat drawn in [t0_s, t1_s), kWh, (N,) (fresh array)."""
        a = self._check_t("t0_s", t0_s)
        b = self._check_t("t1_s", t1_s)
        if b < a:
            raise ValueError(f"t1_s={t1_s!r} must be >= t0_s={t0_s!r}")
        e0 = self._energy_at(a)
        e1 = self._energy_at(b)
        return np.maximum(e1 - e0, 0.0)

    def mean_kW(self, t0_s: float, t1_s: float) -> np.ndarray:
        """Exact mean DHW heat demand over [t0_s, t1_s), kW, (N,) (fresh array).

        Energy over any partition of [0, duration_s] sums to the events' total energy."""
        a = self._check_t("t0_s", t0_s)
        b = self._check_t("t1_s", t1_s)
        if not b > a:
            raise ValueError(f"t1_s={t1_s!r} must be > t0_s={t0_s!r}")
        return self.energy_kWh(a, b) * (SECONDS_PER_HOUR / (b - a))

    @property
    def total_kWh(self) -> np.ndarray:
        """DHW heat of the whole run per house, kWh, (N,)."""
        return self.energy_kWh(0.0, self.duration_s)

    @property
    def events(self) -> pd.DataFrame:
        """All taps: house, start (UTC), t_start_s (s since start), duration_s, energy_kWh,
        kind; sorted by house then start. A fresh DataFrame each call."""
        if self._events is None:
            raise ValueError("events were not kept; construct DhwDemand with keep_events=True")
        ev = self._events
        names = [k.name for k in self.kinds]
        return pd.DataFrame(
            {
                "house": ev["house"].astype(np.int64),
                "start": self.start + pd.to_timedelta(ev["start_s"], unit="s"),
                "t_start_s": ev["start_s"].copy(),
                "duration_s": ev["duration_s"].copy(),
                "energy_kWh": ev["energy_kWh"].copy(),
                "kind": pd.Categorical.from_codes(ev["kind"].astype(np.int64), categories=names),
            }
        )


__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_TAP_KINDS",
    "KWH_PER_DAY_DEFAULT",
    "DhwDemand",
    "TapKind",
]

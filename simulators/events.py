"""Demand-response events and release mitigations for a fleet of N heat pumps (pure numpy).

An :class:`EventSchedule` turns a list of :class:`Event` s into per-unit commands at any time:
``EventSchedule.at(t_s)`` returns the SG-Ready state, the §14a power limit and the price adder
of every unit. All randomness (which units an event targets, restart offsets, group numbers) is
drawn once at construction from the seed, so the commands are a pure function of (events, seed,
N, t) — the same in a run and in its paired counterfactual.

Event kinds (standards reference §3, §4, §6.4):

* ``sg_block`` — SG-Ready state 1 (utility lock) for the window; at most 2 h (§3.1) unless
  ``max_block_s`` is raised.
* ``sg_increased`` / ``sg_forced`` — SG-Ready state 3 (recommendation) / 4 (start command).
* ``dimming_14a`` — §14a EnWG dimming: ``P_limit_kW`` = max(limit, 4.2 kW guaranteed minimum).
* ``price_spike`` — ``price_adder_DKK_per_MWh`` added to the price signal in the window.
* ``peak_tariff`` — the Tarifmodel 3.0 peak window (17–21 local), expressed as a price adder;
  :func:`peak_tariff_event` builds one for a given day.

Mitigations (per event, combinable; reference §4 "Mitigations"), all acting on the END of the
event — each unit gets a stable release offset ≥ 0 after the nominal end:

* randomised restart: offset ~ U(0, ``restart_window_s``) (OpenADR ``randomizeStart`` style);
* staggered groups: units split into ``stagger_groups`` groups released ``stagger_interval_s``
  apart;
* ramp-limited release: releases are then spread so that the curtailed power released within
  any ``ramp_window_s`` (10 s) window is ≤ ``ramp_frac_per_s`` (2.5 %/s) x window x the
  fleet's curtailed power (the static FCR-D deactivation rule: 2.5 %/s as a 10-s mean);
* minimum recovery time: a unit's block starts no earlier than ``recovery_factor`` x (its
  previous block's length) after that block ended (old EVU rule: factor 1), and at most
  ``max_blocks_per_day`` blocks / ``max_block_s_per_day`` per local day are applied;
* guaranteed minimum power: a block becomes a power limit of ``guaranteed_min_kW`` (e.g. 4.2
  kW, §14a) with SG-Ready state 2 — never a hard off.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

__all__ = [
    "EVENT_KINDS",
    "Mitigation",
    "Event",
    "EventSchedule",
    "peak_tariff_event",
    "release_window_sums",
    "SG_BLOCK_MAX_S",
    "RAMP_FRAC_PER_S_REF",
    "RAMP_WINDOW_S_REF",
    "P_MIN_14A_KW",
]

EVENT_KINDS: tuple[str, ...] = (
    "sg_block", "sg_increased", "sg_forced", "dimming_14a", "price_spike", "peak_tariff",
)
SG_BLOCK_MAX_S: float = 7200.0
"""SG-Ready: at most 2 h of hard blocking (standards reference §3.1)."""
RAMP_FRAC_PER_S_REF: float = 0.025
"""Ramp limit on release: 2.5 % of the curtailed power per second (reference §4, from the
static FCR-D deactivation requirement)."""
RAMP_WINDOW_S_REF: float = 10.0
"""The ramp limit holds as a 10-s moving average (reference §4)."""
P_MIN_14A_KW: float = 4.2
"""§14a EnWG guaranteed minimum grid draw while dimmed, kW (reference §3.3)."""
PEAK_TARIFF_HOURS: tuple[int, int] = (17, 21)
"""Tarifmodel 3.0 C-customer peak ("spidslast") 17–21 local time (reference §6.4)."""


@dataclass(frozen=True)
class Mitigation:
    """Release mitigations of one event (defaults: none). See the module docstring."""

    restart_window_s: float = 0.0
    stagger_groups: int = 1
    stagger_interval_s: float = 0.0
    ramp_frac_per_s: float = math.inf
    ramp_window_s: float = RAMP_WINDOW_S_REF
    recovery_factor: float = 0.0
    max_blocks_per_day: int | None = None
    max_block_s_per_day: float | None = None
    guaranteed_min_kW: float | None = None

    def __post_init__(self) -> None:
        _nonneg("restart_window_s", self.restart_window_s)
        _nonneg("stagger_interval_s", self.stagger_interval_s)
        _nonneg("recovery_factor", self.recovery_factor)
        if isinstance(self.stagger_groups, bool) or not isinstance(self.stagger_groups, int) \
                or self.stagger_groups < 1:
            raise ValueError(f"Mitigation.stagger_groups={self.stagger_groups!r}; allowed: an "
                             "integer >= 1")
        r = float(self.ramp_frac_per_s)
        if not r > 0:
            raise ValueError(f"Mitigation.ramp_frac_per_s={r!r}; allowed: > 0 (inf = no limit)")
        w = float(self.ramp_window_s)
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"Mitigation.ramp_window_s={w!r}; allowed: a finite value > 0 s")
        if self.max_blocks_per_day is not None and self.max_blocks_per_day < 1:
            raise ValueError(f"Mitigation.max_blocks_per_day={self.max_blocks_per_day!r}; "
                             "allowed: None or >= 1")
        if self.max_block_s_per_day is not None:
            _nonneg("max_block_s_per_day", self.max_block_s_per_day)
        if self.guaranteed_min_kW is not None:
            _nonneg("guaranteed_min_kW", self.guaranteed_min_kW)

    @classmethod
    def evu_rule(cls, **kwargs: float) -> Mitigation:
        """Old EVU-Sperre rule (reference §3.1): release ≥ block length, ≤ 3 blocks and ≤ 6 h
        per day."""
        return cls(recovery_factor=1.0, max_blocks_per_day=3, max_block_s_per_day=6 * 3600.0,
                   **kwargs)


def _nonneg(name: str, v: float) -> None:
    fv = float(v)
    if not (math.isfinite(fv) and fv >= 0):
        raise ValueError(f"Mitigation.{name}={v!r}; allowed: a finite value >= 0")


@dataclass(frozen=True)
class Event:
    """One demand-response event.

    Attributes:
        kind: one of ``EVENT_KINDS``.
        start_s: start, s after the run start (t = 0).
        duration_s: nominal length, s (> 0).
        share: share of the fleet targeted (seeded, stable selection), in (0, 1].
        targets: explicit unit indices instead of ``share`` (None = use ``share``).
        P_limit_kW: ``dimming_14a`` limit, kW (raised to ``P_min_kW``).
        P_min_kW: §14a guaranteed minimum, kW.
        price_adder_DKK_per_MWh: ``price_spike`` / ``peak_tariff`` price adder.
        mitigation: release mitigations.
        name: label for reports.
    """

    kind: str
    start_s: float
    duration_s: float
    share: float = 1.0
    targets: tuple[int, ...] | None = None
    P_limit_kW: float = P_MIN_14A_KW
    P_min_kW: float = P_MIN_14A_KW
    price_adder_DKK_per_MWh: float = 0.0
    mitigation: Mitigation = field(default_factory=Mitigation)
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"Event.kind={self.kind!r}; allowed: {', '.join(EVENT_KINDS)}")
        s, d = float(self.start_s), float(self.duration_s)
        if not (math.isfinite(s) and s >= 0):
            raise ValueError(f"Event.start_s={self.start_s!r}; allowed: a finite value >= 0 s")
        if not (math.isfinite(d) and d > 0):
            raise ValueError(f"Event.duration_s={self.duration_s!r}; allowed: a finite value > 0")
        if not 0.0 < float(self.share) <= 1.0:
            raise ValueError(f"Event.share={self.share!r}; allowed: (0, 1]")
        for name in ("P_limit_kW", "P_min_kW"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"Event.{name}={v!r}; allowed: a finite value >= 0 kW")
        if not math.isfinite(float(self.price_adder_DKK_per_MWh)):
            raise ValueError("Event.price_adder_DKK_per_MWh must be finite")

    @property
    def end_s(self) -> float:
        """Nominal end, s."""
        return float(self.start_s) + float(self.duration_s)


def peak_tariff_event(
    start: datetime, day: datetime, adder_DKK_per_MWh: float, *, share: float = 1.0,
    hours: tuple[int, int] = PEAK_TARIFF_HOURS, tz: str = "Europe/Copenhagen",
    mitigation: Mitigation | None = None,
) -> Event:
    """The Tarifmodel 3.0 peak window (default 17–21 local) of the local date of ``day`` as a
    ``peak_tariff`` event relative to the run ``start`` (naive datetimes = UTC)."""
    zone = ZoneInfo(tz)
    st = start if start.tzinfo else start.replace(tzinfo=UTC)
    d = (day if day.tzinfo else day.replace(tzinfo=UTC)).astimezone(zone).date()
    t0 = datetime(d.year, d.month, d.day, hours[0], tzinfo=zone)
    t1 = datetime(d.year, d.month, d.day, hours[1], tzinfo=zone)
    s0 = (t0 - st).total_seconds()
    if s0 < 0:
        raise ValueError(f"peak_tariff_event: the window {t0.isoformat()} lies before the start")
    return Event("peak_tariff", s0, (t1 - t0).total_seconds(), share=share,
                 price_adder_DKK_per_MWh=adder_DKK_per_MWh, name="peak tariff",
                 mitigation=Mitigation() if mitigation is None else mitigation)


# --------------------------------------------------------------------------------------------
# Release offsets
# --------------------------------------------------------------------------------------------


def _ramp_release(
    desired: np.ndarray, weight: np.ndarray, frac_per_s: float, window_s: float
) -> np.ndarray:
    """Earliest release times ≥ ``desired`` (processed in order of ``desired``) such that the
    weight released in any window (t − window_s, t] is ≤ frac_per_s·window_s·Σweight (or the
    single unit's weight if that alone is larger)."""
    cap = frac_per_s * window_s * float(weight.sum())
    order = np.argsort(desired, kind="stable")
    out = np.empty_like(desired)
    recent: deque[tuple[float, float]] = deque()
    in_window = 0.0
    t_prev = -math.inf
    for i in order:
        t = max(float(desired[i]), t_prev)
        w = float(weight[i])
        while recent and recent[0][0] + window_s <= t:
            in_window -= recent.popleft()[1]
        while recent and in_window + w > cap * (1 + 1e-12):
            t_old, w_old = recent.popleft()  # wait until the oldest release leaves the window
            t = max(t, t_old + window_s)
            in_window -= w_old
        recent.append((t, w))
        in_window += w
        out[i] = t
        t_prev = t
    return out


def release_window_sums(release_s: np.ndarray, weight: np.ndarray, window_s: float) -> np.ndarray:
    """For each release time t_k: the weight released in (t_k − window_s, t_k] (for checks)."""
    order = np.argsort(release_s, kind="stable")
    t, w = np.asarray(release_s, float)[order], np.asarray(weight, float)[order]
    cw = np.concatenate([[0.0], np.cumsum(w)])
    lo = np.searchsorted(t, t - window_s, side="right")
    hi = np.searchsorted(t, t, side="right")
    return cw[hi] - cw[lo]


# --------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    """An event resolved per unit: window [start, end) per unit (NaN = not targeted)."""

    kind: str
    start: np.ndarray
    end: np.ndarray
    value: float


class EventSchedule:
    """Per-unit demand-response commands of a fleet of N units from a list of events.

    ``at(t_s)`` returns fresh arrays:

    * ``sg_ready_state`` (N,) int: 2 normal; 3/4 in increased/forced windows; 1 while blocked
      (a block wins over 3/4);
    * ``P_limit_kW`` (N,) float: NaN = no limit, else the lowest active limit (§14a dimming or a
      block turned into a guaranteed minimum);
    * ``price_adder_DKK_per_MWh`` (N,) float: sum of the active price adders;
    * ``in_event`` (N,) bool: the unit is inside any (mitigated) event window.
    """

    def __init__(
        self,
        n: int,
        events: Sequence[Event],
        seed: int = 0,
        *,
        P_weight_kW: float | Sequence[float] | np.ndarray = 1.0,
        start: datetime | None = None,
        tz: str = "Europe/Copenhagen",
        max_block_s: float = SG_BLOCK_MAX_S,
    ) -> None:
        """
        Args:
            n: fleet size N.
            events: the events (any order).
            seed: non-negative seed of the target selection and the release offsets.
            P_weight_kW: curtailed power per unit used by the ramp limit (e.g. rated electric
                power), kW, scalar or (N,).
            start: run start (for per-local-day limits of the EVU rule; default: days counted
                from t = 0).
            tz: time zone of those local days.
            max_block_s: longest allowed ``sg_block``, s (SG-Ready: 2 h).
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"EventSchedule n={n!r}; allowed: an integer >= 1")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"EventSchedule seed={seed!r}; allowed: an integer >= 0")
        self.n = int(n)
        w = np.asarray(P_weight_kW, dtype=float)
        w = np.full(self.n, float(w)) if w.ndim == 0 else w
        if w.shape != (self.n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"EventSchedule P_weight_kW: shape {w.shape}; allowed: a value or "
                             f"({self.n},) values >= 0")
        self._weight = w.copy()
        self.events: tuple[Event, ...] = tuple(sorted(events, key=lambda e: e.start_s))
        for e in self.events:
            if not isinstance(e, Event):
                raise ValueError(f"EventSchedule events: {e!r} is not an Event")
            if e.kind == "sg_block" and e.duration_s > max_block_s:
                raise ValueError(
                    f"Event {e.name or e.kind!r}: an SG-Ready block of {e.duration_s:.0f} s "
                    f"exceeds max_block_s={max_block_s:.0f} s (SG Ready allows at most 2 h of "
                    "hard blocking); split it, use a guaranteed minimum, or raise max_block_s")
            if e.targets is not None:
                t = np.asarray(e.targets)
                if t.size == 0 or t.dtype.kind not in "iu" or t.min() < 0 or t.max() >= self.n:
                    raise ValueError(f"Event {e.name or e.kind!r}: targets must be unit indices "
                                     f"in 0..{self.n - 1}")
        self._tz = ZoneInfo(tz)
        self._start = None if start is None else (
            start if start.tzinfo else start.replace(tzinfo=UTC))
        self._seed = int(seed)
        self._resolved = self._resolve()

    # ------------------------------------------------------------------ construction
    def _rng(self, k: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self._seed, k, stream]))

    def _targets(self, k: int, e: Event) -> np.ndarray:
        if e.targets is not None:
            mask = np.zeros(self.n, dtype=bool)
            mask[np.asarray(e.targets)] = True
            return mask
        # stable selection: a per-unit uniform key drawn once per event; the share cuts it
        key = self._rng(k, 0).random(self.n)
        m = int(round(float(e.share) * self.n))
        mask = np.zeros(self.n, dtype=bool)
        mask[np.argsort(key, kind="stable")[:m]] = True
        return mask

    def release_offsets_s(self, k: int) -> np.ndarray:
        """Per-unit release offsets after the nominal end of event ``k`` (sorted order), s."""
        e = self.events[k]
        m = e.mitigation
        off = np.zeros(self.n)
        if m.restart_window_s > 0:
            off += self._rng(k, 1).uniform(0.0, m.restart_window_s, self.n)
        if m.stagger_groups > 1:
            groups = self._rng(k, 2).permutation(np.arange(self.n) % m.stagger_groups)
            off += groups * m.stagger_interval_s
        if math.isfinite(m.ramp_frac_per_s):
            tgt = self._targets(k, e)
            ramped = off.copy()
            if tgt.any():
                # ties (no randomisation) are released in a seeded random order
                tie = self._rng(k, 3).random(self.n) * 1e-9
                ramped[tgt] = _ramp_release(off[tgt] + tie[tgt], self._weight[tgt],
                                            m.ramp_frac_per_s, m.ramp_window_s)
            off = ramped
        return off

    def _day_of(self, t_s: np.ndarray) -> np.ndarray:
        if self._start is None:
            return np.floor(t_s / 86400.0)
        base = self._start.astimezone(self._tz)
        midnight = base.replace(hour=0, minute=0, second=0, microsecond=0)
        off0 = (base - midnight).total_seconds()
        return np.floor((t_s + off0) / 86400.0)

    def _resolve(self) -> list[_Resolved]:
        out: list[_Resolved] = []
        last_end = np.full(self.n, -math.inf)
        last_len = np.zeros(self.n)
        blocks_day: dict[float, np.ndarray] = {}
        secs_day: dict[float, np.ndarray] = {}
        for k, e in enumerate(self.events):
            tgt = self._targets(k, e)
            m = e.mitigation
            start = np.full(self.n, float(e.start_s))
            end = float(e.end_s) + self.release_offsets_s(k)
            kind, value = e.kind, math.nan
            if kind == "sg_block":
                # minimum recovery after the unit's previous block
                earliest = last_end + m.recovery_factor * last_len
                start = np.maximum(start, earliest)
                day = float(self._day_of(np.array([e.start_s]))[0])
                nb = blocks_day.setdefault(day, np.zeros(self.n))
                ns = secs_day.setdefault(day, np.zeros(self.n))
                ok = tgt & (start < end)
                if m.max_blocks_per_day is not None:
                    ok &= nb < m.max_blocks_per_day
                if m.max_block_s_per_day is not None:
                    end = np.minimum(end, start + np.maximum(m.max_block_s_per_day - ns, 0.0))
                    ok &= start < end
                tgt = ok
                nb[tgt] += 1
                ns[tgt] += (end - start)[tgt]
                last_end = np.where(tgt, end, last_end)
                last_len = np.where(tgt, end - start, last_len)
                if m.guaranteed_min_kW is not None:
                    kind, value = "limit", float(m.guaranteed_min_kW)
            elif kind == "dimming_14a":
                kind, value = "limit", max(float(e.P_limit_kW), float(e.P_min_kW))
            elif kind in ("price_spike", "peak_tariff"):
                kind, value = "price", float(e.price_adder_DKK_per_MWh)
            out.append(_Resolved(kind, np.where(tgt, start, np.nan), np.where(tgt, end, np.nan),
                                 value))
        return out

    # ------------------------------------------------------------------ queries
    def windows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-unit (start, end) of event ``k`` after mitigation, s (NaN = not targeted)."""
        r = self._resolved[k]
        return r.start.copy(), r.end.copy()

    def at(self, t_s: float) -> dict[str, np.ndarray]:
        """Commands per unit at time ``t_s`` (s after the run start). Fresh arrays."""
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"EventSchedule.at t_s={t_s!r}; allowed: a finite time in s")
        sg = np.full(self.n, 2, dtype=np.int64)
        limit = np.full(self.n, np.inf)
        price = np.zeros(self.n)
        blocked = np.zeros(self.n, dtype=bool)
        inside = np.zeros(self.n, dtype=bool)
        for r in self._resolved:
            with np.errstate(invalid="ignore"):
                act = (r.start <= t) & (t < r.end)
            if not act.any():
                continue
            inside |= act
            if r.kind == "sg_block":
                blocked |= act
            elif r.kind == "sg_forced":
                sg[act] = 4
            elif r.kind == "sg_increased":
                sg[act & (sg != 4)] = 3
            elif r.kind == "limit":
                limit[act] = np.minimum(limit[act], r.value)
            elif r.kind == "price":
                price[act] += r.value
        sg[blocked] = 1
        return {
            "sg_ready_state": sg,
            "P_limit_kW": np.where(np.isfinite(limit), limit, np.nan),
            "price_adder_DKK_per_MWh": price,
            "in_event": inside,
        }

    def nominal_windows_s(self) -> list[tuple[float, float, str]]:
        """(start, nominal end, name) of each event, s — for shading plots and KPI windows."""
        return [(float(e.start_s), e.end_s, e.name or e.kind) for e in self.events]

    def last_release_s(self, k: int) -> float:
        """Latest per-unit release of event ``k`` (end of its mitigated window), s."""
        end = self._resolved[k].end
        return float(np.nanmax(end)) if np.isfinite(end).any() else float(self.events[k].end_s)

"""Time helpers shared by the boundary-condition cores (weather, prices, demand)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd


def as_utc(value: datetime | pd.Timestamp | str, name: str) -> pd.Timestamp:
    """A UTC :class:`pandas.Timestamp`; naive input is taken as UTC.

    Raises ValueError naming ``name`` and the bad value for anything that is not a date/time."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={value!r} is not a date/time: {exc}") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name}={value!r} is not a date/time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

"""Physical constants shared by the model cores (SI units unless the name says otherwise)."""

CP_WATER_J_PER_KGK: float = 4186.0
"""Specific heat capacity of liquid water at ~20–60 °C, J/(kg·K)."""

RHO_WATER_KG_PER_M3: float = 985.0
"""Density of water at ~50 °C, kg/m³ (983–988 between 45 and 60 °C)."""

WH_PER_J: float = 1.0 / 3600.0
"""Watt-hours per joule."""

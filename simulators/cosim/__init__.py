"""Thin mosaik adapters around the pure model cores (the cores never import mosaik)."""

"""Amaranth units, one wiring.Component per operator."""

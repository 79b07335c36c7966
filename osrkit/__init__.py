"""osrkit: helpers for the open-set recognition workbook (see DESIGN.md for the module map)."""
__version__ = "0.1.0"

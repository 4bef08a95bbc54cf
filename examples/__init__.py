"""Example programs built on altinn_async (each runs on its own: see its docstring)."""

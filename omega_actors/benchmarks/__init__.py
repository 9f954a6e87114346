"""Benchmarks behind ``python run.py bench``: each compares against a baseline
measured in the same run and reports ratios as well as absolute figures.

May import every package below the CLI (app, actors, plain code, runtime);
only the CLI imports them. ``raw_thespian`` is the one module besides the
runtime's adapter that imports Thespian: it is the baseline.
"""

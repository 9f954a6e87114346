"""Benchmarks behind ``python run.py bench``: each compares against a baseline
measured in the same run and reports ratios as well as absolute figures."""

"""Thin actor shells: each wraps plain code from another package in an Actor."""

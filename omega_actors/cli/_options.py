"""What several command groups share: the default config directory and checked counts."""

from __future__ import annotations

import argparse
from dataclasses import replace

from ..errors import ConfigError
from ..runtime import SystemConfig

DEFAULT_CONFIG = "config"


def add_config_option(parser: argparse.ArgumentParser, help: str = "config directory (default: config)") -> None:
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=help)


def add_base_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", choices=("simple", "tcp"), help="override [system] base")


def with_base(system: SystemConfig, base: str | None) -> SystemConfig:
    """``--base``, when given, over the config's ``[system] base``."""
    return system if base is None else replace(system, base=base)


def checked_counts(**counts: int) -> None:
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"expected a whole number >= 1; got {value}", key=f"--{name}")

"""The Omega system's sections of a config directory, checked together; misspelt ones refused; an application's own left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from omega_actors.errors import ConfigError
from omega_actors.reload.sections import check_sections
from omega_actors.runtime import load_config


def write(directory: Path, **files: str) -> Path:
    for name, text in files.items():
        (directory / f"{name}.toml").write_text(text)
    return directory


def test_the_shipped_config_directories_have_only_omega_sections() -> None:
    for directory in ("config", "config/brain", "config/constellation", "config/genesis", "config/router"):
        assert check_sections(load_config(Path(__file__).parents[2] / directory)) == []


def test_an_applications_own_section_is_named_and_not_refused(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, library='[library]\nmax_loans = 3\n', brain="[brain]\ncapacity = 500\n"))
    assert check_sections(config) == ["library"]


@pytest.mark.parametrize(
    ("text", "key"),
    [("[brain]\ncapacty = 5\n", "brain.capacty"), ("[reload]\nhealth_window = -1\n", "reload.health_window"),
     ("[router]\nmax_input_chars = 0\n", "router.max_input_chars")],
)
def test_a_bad_omega_section_is_refused_with_its_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_sections(load_config(write(tmp_path, omega=text)))
    assert (refused.value.file, refused.value.key) == (str(tmp_path / "omega.toml"), key)


@pytest.mark.parametrize("name", ["brian", "rooter", "relaod"])
def test_a_table_one_typo_from_an_omega_section_is_refused_with_the_section_it_misspells(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[{name}\] is one typo away from \[(brain|router|reload)\]") as refused:
        check_sections(load_config(write(tmp_path, omega=f"[{name}]\nx = 1\n")))
    assert (refused.value.file, refused.value.key) == (str(tmp_path / "omega.toml"), name)

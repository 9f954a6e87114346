"""An experiment's own database: a SQLite file in its sandbox, or ``genesis_<id>`` on PostgreSQL.

::

    database = ExperimentDatabase("g0123456789ab", box.database, server_url)   # server_url "" -> SQLite
    env = database.fresh()      # empty before each run; the variables the command gets
    database.drop()

The command finds it in ``OMEGA_SQLITE_PATH`` or ``OMEGA_DATABASE_URL``.
Each run starts from an empty database, so the baseline's second run and
the candidate see what the first saw. The PostgreSQL URL handed to the
command carries no password: the host's credentials stay with the host.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import GenesisError

_NAME = re.compile(r"genesis_g[0-9a-f]{12}")


class ExperimentDatabase:
    def __init__(self, experiment_id: str, sqlite_path: Path, server_url: str = "") -> None:
        self.sqlite_path = Path(sqlite_path)
        self.server_url = server_url
        self.name = f"genesis_{experiment_id}"
        if not _NAME.fullmatch(self.name):
            raise GenesisError(f"no database name can be made from {experiment_id!r}", key="experiment_id")

    def fresh(self) -> dict[str, str]:
        if not self.server_url:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)
            return {"OMEGA_SQLITE_PATH": str(self.sqlite_path)}
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', f'CREATE DATABASE "{self.name}"')
        return {"OMEGA_DATABASE_URL": self.url()}

    def url(self) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        params = conninfo_to_dict(self.server_url)
        params.pop("password", None)
        params["dbname"] = self.name
        return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})

    def drop(self) -> None:
        if self.server_url:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _admin(self, *statements: str) -> None:
        import psycopg

        try:
            with psycopg.connect(self.server_url, autocommit=True, connect_timeout=10) as connection:
                for statement in statements:
                    connection.execute(statement.encode())
        except psycopg.Error as exc:
            raise GenesisError(f"PostgreSQL refused the experiment's database {self.name}: {exc}") from None

"""An embedded PostgreSQL a test may stop and start, for outages under a running store or server."""

from __future__ import annotations

from pathlib import Path

import psycopg

from casts.memory.store.embedded import pg_ctl, start_embedded_postgres


class EmbeddedPostgres:
    """Stop and start the embedded server of one data directory with ``pg_ctl``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.uri = start_embedded_postgres(data_dir)

    def stop(self) -> None:
        """Fast shutdown: open sessions are terminated, as in a real restart or failover."""
        assert pg_ctl(self.data_dir, "-w", "-m", "fast", "stop").returncode == 0
        assert not self.running()

    def start(self) -> None:
        """Start it again on the same port (the URI the store was opened with)."""
        assert start_embedded_postgres(self.data_dir) == self.uri

    def running(self) -> bool:
        try:
            with psycopg.connect(self.uri, connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False

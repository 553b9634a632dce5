"""What every PostgreSQL domain shares: the driver and set-up on first use."""

from __future__ import annotations

from collections.abc import Callable

from storage.postgres.driver import Driver


class PostgresDomain:
    """A domain over a :class:`~storage.postgres.driver.Driver`.

    Args:
        driver: runs the SQL (psycopg or the Data API).
        ready: called before each operation; applies the migrations on first use.
    """

    def __init__(self, driver: Driver, ready: Callable[[], None] | None = None) -> None:
        self._driver = driver
        self._ready = ready or (lambda: None)

    @property
    def driver(self) -> Driver:
        """The driver this domain runs on."""
        return self._driver

"""Errors a user can cause, and the exit codes of the contract."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 75


class ConfigError(Exception):
    """Invalid config or input, found before any trial starts and before anything is written.

    Args:
        key: the config key (``space.optim.lr.high``) or file the problem is in.
        message: what is wrong and what to do about it.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

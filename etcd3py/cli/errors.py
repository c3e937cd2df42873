"""Exit codes and the error a command raises to stop as etcdctl stops.

etcdctl ends a failed command by printing ``Error: <message>`` to stderr and exiting with
one of cobrautl's codes; a command here raises ``CliError(code, message)`` and ``app.main``
prints and exits the same way. ``client_error`` turns an etcd3py exception into etcdctl's
message for it.
"""

from __future__ import annotations

from typing import NoReturn

import etcd3py

# etcdctl's exit codes (pkg/cobrautl): the same numbers, so scripts see no difference
EXIT_SUCCESS = 0
EXIT_ERROR = 1
EXIT_BAD_CONNECTION = 2
EXIT_INVALID_INPUT = 3  # txn and watch input
EXIT_BAD_FEATURE = 4  # a valid flag with an unsupported value
EXIT_INTERRUPTED = 5
EXIT_IO = 6
EXIT_BAD_ARGS = 128


class CliError(Exception):
    """Stop the command: ``Error: <message>`` on stderr, exit with ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def client_error(error: etcd3py.EtcdError, logged_in: bool = False) -> CliError:
    """etcdctl's line and exit code for a failed call."""
    return CliError(exit_code(error, logged_in), error_text(error))


def exit_code(error: etcd3py.EtcdError, logged_in: bool = False) -> int:
    """1, but 2 for a failed login: etcdctl logs in while making its client (with
    --user), and a client it cannot make is a bad connection; so with --user a server
    that cannot be reached is 2 as well."""
    if isinstance(error, etcd3py.AuthFailedError):
        return EXIT_BAD_CONNECTION
    unreachable = (etcd3py.ConnectionFailedError, etcd3py.DeadlineExceededError)
    if logged_in and isinstance(error, unreachable):
        return EXIT_BAD_CONNECTION
    return EXIT_ERROR


def error_text(error: etcd3py.EtcdError) -> str:
    """What etcdctl prints after ``Error:`` for this failure."""
    if isinstance(error, (etcd3py.DeadlineExceededError, etcd3py.ConnectionFailedError)):
        return "context deadline exceeded"
    if error.spec is not None or error.details:
        return error.details
    return str(error)


def exit_quietly(code: int) -> NoReturn:
    """Exit with ``code`` and no ``Error:`` line (etcdctl's bare os.Exit, after it printed
    its own lines). SystemExit, not click's Exit, which click's non-standalone mode
    would swallow."""
    raise SystemExit(code)

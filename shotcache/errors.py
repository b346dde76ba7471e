"""The one user-error hierarchy, and the one rule that turns an error into what a front end shows.

An error is either the user's to fix (a file that is missing, a value out of range, a track
that is not usable, a sidecar that is not running) or a bug. Everything the user can fix
derives from ``UserError`` and carries a message that names the file or value and says
what to do. Every front end asks the functions at the bottom of this module, never its own
``isinstance`` list, so the CLI, the sidecar and the Blender panel agree on what is whose fault:

* ``exit_code(exc)``   -> 2 for a user error (the CLI), ``None`` for a bug (re-raise it);
* ``http_status(exc)`` -> the 4xx a request that raised it gets (the server), 500 for a bug;
* ``job_error_kind(exc)`` -> ``out_of_memory`` | ``bad_input`` | ``internal`` (a failed job);
* ``panel_message(exc)`` -> the one line a Blender panel reports.

Stdlib only: both sides import it (Blender through ``..shotcache.errors``).
"""
from __future__ import annotations

USER_EXIT_CODE = 2
"""What a command returns when it refuses its input (a bug still exits 1 with a traceback)."""


class UserError(Exception):
    """An error whose message is meant for the user (what is wrong, which file, what to do).

    Commands print it without a traceback and exit 2; the server answers ``http_status`` with it;
    the panel shows it as is. Stage- and tool-specific errors subclass it.
    """

    http_status: int = 400


class SchemaError(UserError, ValueError):
    """A shot or job document that cannot be used; the message says what and where."""

    http_status = 422


class InputError(SchemaError):
    """Bad user input (a file that can't be used); the message names it and what to do."""


class UsageError(UserError):
    """A command-line option or request value that makes no sense (``--frames 9:1``)."""


class NotFound(UserError, LookupError):
    """Something named by the request does not exist (a job, a frame of a result)."""

    http_status = 404


class Conflict(UserError, RuntimeError):
    """The request does not fit the current state (cancelling a job that already ended)."""

    http_status = 409


class PlacementError(UserError, ValueError):
    """A product placement (area, pixel, box) that can't be used or can't be satisfied."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM: a render farm cancelling the task, a service
    manager, ``kill``). A KeyboardInterrupt, so every ``except KeyboardInterrupt`` that stops a
    child process (the Blender step, app.blender.run_batch) runs for it too; left to Python's
    default, SIGTERM ended the CLI at once and its Blender child rendered on, orphaned, into
    the output folder."""


class Cancelled(Exception):
    """A job its client cancelled, stopped where it stood: between steps, or with its Blender
    step terminated mid-render. Neither the user's input nor a bug; the sidecar records the
    job as cancelled (or queues it again when the sidecar itself is stopping)."""


TERMINATED_EXIT_CODE = 143
"""128 + SIGTERM, what a shell reports for a process the signal ended."""


OS_USER_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, FileExistsError, PermissionError,
                                                   NotADirectoryError, IsADirectoryError)
"""OS errors that name a path the user gave: user errors too (their message names the file)."""

_OS_STATUS = {FileNotFoundError: 404, PermissionError: 403}


def is_user_error(exc: BaseException) -> bool:
    """True when the user can fix what ``exc`` says (see the module docstring)."""
    return isinstance(exc, (UserError, *OS_USER_ERRORS))


def exit_code(exc: BaseException) -> int | None:
    """The CLI's exit status for ``exc``: 2 for a user error, 130 for Ctrl-C, 143 for SIGTERM,
    None for a bug (let it raise)."""
    if isinstance(exc, Terminated):
        return TERMINATED_EXIT_CODE
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return USER_EXIT_CODE if is_user_error(exc) else None


def http_status(exc: BaseException) -> int:
    """The HTTP status of a request that failed with ``exc``: its class's 4xx, else 500."""
    if isinstance(exc, UserError):
        return int(getattr(exc, "http_status", 400))
    for cls, status in _OS_STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400 if is_user_error(exc) else 500


def job_error_kind(exc: BaseException) -> str:
    """How a failed job is classified for the client's advice: OOM, the user's input, or a bug."""
    text = f"{type(exc).__name__}: {exc}".lower()
    if "outofmemory" in text or "out of memory" in text:
        return "out_of_memory"
    return "bad_input" if is_user_error(exc) else "internal"


def panel_message(exc: BaseException) -> str:
    """The line a Blender operator reports: the message itself for a user error, the error's
    type with a request to report it for a bug (the traceback goes to the console)."""
    if is_user_error(exc):
        return str(exc).strip("'\"")
    return f"internal error ({type(exc).__name__}: {exc}); please report it with the console output"

"""Running a server's own dump and restore programs (``pg_dump``, ``mysqldump`` …) as
streams: a dump is read from the program's output as it comes, a restore written to its
input, so neither is ever held whole in memory or on disk.

Programs are found on the service's ``PATH`` and run with a minimal environment of their
own (never the app's, which holds its keys): the login's password goes in through it
(``PGPASSWORD``, ``MYSQL_PWD``), never on the command line, where every local user could
read it. Their error output is kept (its end only) and scrubbed of the password before
it becomes a ``ProviderError`` message.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from providers.adapters.base import ProviderError, scrub

_READ_SIZE = 256 * 1024
#: The end of a program's error output that a failure message keeps.
_KEPT_ERRORS = 2000


def program_environment(**variables: str) -> dict[str, str]:
    """The environment a dump or restore program runs with: ``variables`` and a C locale,
    nothing else (the program is found on the service's path before it starts)."""
    return {"LC_ALL": "C.UTF-8", **variables}


def _located(argv: list[str]) -> list[str]:
    """``argv`` with its program's full path, found on the service's ``PATH``."""
    return [shutil.which(argv[0]) or argv[0], *argv[1:]]


class _ErrorOutput:
    """Reads a program's error output in a thread (so a full pipe never blocks it) and
    keeps its end."""

    def __init__(self, stream) -> None:
        self.text = b""
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream) -> None:
        with stream:
            for line in stream:
                self.text = (self.text + line)[-_KEPT_ERRORS:]

    def message(self) -> str:
        self._thread.join(timeout=5)
        lines = [line.strip() for line in self.text.decode(errors="replace").splitlines()]
        return "; ".join(line for line in lines if line)[-_KEPT_ERRORS:] or "no detail"


def _failure(what: str, code: int, errors: _ErrorOutput, secrets: tuple[str, ...]
             ) -> ProviderError:
    return ProviderError(scrub(f"{what} failed (exit status {code}): {errors.message()}",
                               *secrets))


def _start(argv: list[str], env: dict[str, str], what: str, *, stdin: int, stdout: int
           ) -> subprocess.Popen:
    """``argv`` started with its errors piped; a program that cannot start is a
    ``ProviderError``."""
    try:
        return subprocess.Popen(  # noqa: S603 - our arguments, no shell
            _located(argv), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        raise ProviderError(f"{what} could not start: {exc.strerror}") from None


@contextmanager
def dump_stream(argv: list[str], env: dict[str, str], what: str, *secrets: str
                ) -> Iterator[Iterator[bytes]]:
    """The output of ``argv`` as chunks. Once the output ends, the iterator raises a
    ``ProviderError`` if the program failed, so that whoever stores the dump never takes a
    partial one for complete; leaving the block early ends the program."""
    process = _start(argv, env, what, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    errors = _ErrorOutput(process.stderr)

    def chunks() -> Iterator[bytes]:
        while chunk := process.stdout.read(_READ_SIZE):
            yield chunk
        if code := process.wait():
            raise _failure(what, code, errors, secrets)

    try:
        yield chunks()
    finally:
        _end(process)


def restore_stream(argv: list[str], env: dict[str, str], chunks: Iterable[bytes], what: str,
                   *secrets: str) -> None:
    """Feed ``chunks`` to ``argv``'s input. Raises ``ProviderError`` if the program fails;
    whatever ``chunks`` raises ends the program first (its input cut short) and
    propagates."""
    process = _start(argv, env, what, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    errors = _ErrorOutput(process.stderr)
    try:
        for chunk in chunks:
            process.stdin.write(chunk)
        process.stdin.close()
    except BrokenPipeError:
        pass  # the program stopped reading: its exit status and errors tell why
    except BaseException:
        _end(process)
        raise
    if code := process.wait():
        raise _failure(what, code, errors, secrets)


def _end(process: subprocess.Popen) -> None:
    """End ``process`` if it still runs, and reap it."""
    if process.poll() is None:
        process.kill()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()
    process.wait()

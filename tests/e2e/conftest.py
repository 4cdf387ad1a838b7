"""End-to-end: the services as processes, started the way `make run` starts them."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

REPO = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """One `python -m <module> <command>` with its own environment and log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ServiceProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last commit, as a crash would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(url: str, process: ServiceProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.process is not None
        if process.process.poll() is not None:
            raise AssertionError(f"{process.name} exited:\n{process.log_tail()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{process.name} not healthy at {url}:\n{process.log_tail()}")


class Processes:
    """The service processes of a test, in one environment, with their logs in one directory.

    As a context manager: every process started inside is stopped at the end, the last one
    first; when starting them (or whatever runs inside) fails, their logs are printed first.
    """

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[ServiceProcess] = []

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> ServiceProcess:
        """``python -m <args>`` as ``name``, its log in ``<log_dir>/<name>.log``; ``env`` adds
        settings of this process only."""
        process = ServiceProcess(name, list(args), {**self.env, **(env or {})}, self.log_dir)
        process.start()
        self.processes.append(process)
        return process

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if error is not None:
                for process in self.processes:
                    print(f"---- {process.name} ----\n{process.log_tail()}")
        finally:
            for process in reversed(self.processes):
                process.stop()

"""The local stack starts from a clone in any directory, even one the postgres OS user cannot reach.

A fresh clone under a `mktemp -d` directory (mode 700) runs `deploy/local/stack.sh up` on free
ports: PostgreSQL must answer there and Kafka accept connections; `down` must leave no process.
The clone is of the committed HEAD, with this working tree's deploy/local/ copied over it, so
the script under test is the one being edited. It borrows this test's venv (a symlink), as
`make up` would have made one. PostgreSQL runs as the postgres OS user only when the caller is
root, so the test is skipped otherwise. Takes ~20-50 s (a JVM and a PostgreSQL cluster start).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

REPO = Path(__file__).resolve().parents[2]
OUTSIDE_ROOT = Path("/var/lib/mailbill")  # PG_OUTSIDE_ROOT in deploy/local/stack.sh
STACK_TIMEOUT = 300.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="PostgreSQL runs as the postgres user only for root"
    ),
]


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _processes_mentioning(*needles: str) -> list[str]:
    """Command lines of live processes that name one of the paths (our JVM, our postmaster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile
            continue
        if state != "Z" and any(needle in cmdline for needle in needles):
            found.append(f"{entry.name}: {cmdline}")
    return found


class Clone:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "mailbill"
        self.state = self.path / ".local"
        pg_port, kafka_port, controller_port = _free_ports(3)
        self.pg_port = pg_port
        self.kafka_port = kafka_port
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBILL_")}
        self.env = {
            **env,
            "MAILBILL_PG_PORT": str(pg_port),
            "MAILBILL_KAFKA_PORT": str(kafka_port),
            "MAILBILL_KAFKA_CONTROLLER_PORT": str(controller_port),
        }

    def stack(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "deploy/local/stack.sh", command],
            cwd=self.path,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=STACK_TIMEOUT,
        )

    def pg_dir(self) -> Path | None:
        link = self.state / "postgres"
        return Path(os.readlink(link)) if link.is_symlink() else None


@pytest.fixture
def clone() -> Iterator[Clone]:
    root = Path(tempfile.mkdtemp(prefix="mailbill-any-dir-"))
    made = Clone(root)
    try:
        subprocess.run(
            ["git", "clone", "-q", "--no-hardlinks", str(REPO), str(made.path)],
            check=True,
            timeout=120,
        )
        shutil.copytree(
            REPO / "deploy" / "local", made.path / "deploy" / "local", dirs_exist_ok=True
        )
        (made.path / ".venv").symlink_to(Path(sys.prefix))
        yield made
    finally:
        if made.state.exists():
            made.stack("down")  # whatever the test got to; a no-op when nothing runs
        pg_dir = made.pg_dir()
        # down keeps PostgreSQL's data, as it does in the state dir; this throwaway clone's
        # cluster outside it is removed here, once nothing runs from it.
        if (
            pg_dir is not None
            and pg_dir.parent.parent == OUTSIDE_ROOT
            and not _processes_mentioning(str(pg_dir))
        ):
            shutil.rmtree(pg_dir.parent, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


async def _query(port: int) -> int:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="mailbill", password="mailbill", database="ledger"
    )
    try:
        value: int = await conn.fetchval("SELECT 41 + 1")
        return value
    finally:
        await conn.close()


def test_stack_up_from_a_directory_postgres_cannot_reach(clone: Clone) -> None:
    assert clone.root.stat().st_mode & 0o777 == 0o700
    unreachable = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(clone.path)])
    assert unreachable.returncode != 0, "the postgres user can reach the clone: nothing is tested"

    up = clone.stack("up")
    assert up.returncode == 0, f"stack.sh up failed:\n{up.stdout}\n{up.stderr}"

    pg_dir = clone.pg_dir()
    assert pg_dir is not None, f"{clone.state / 'postgres'} is not a link to the data outside"
    assert pg_dir.parent.parent == OUTSIDE_ROOT, pg_dir
    assert f"postgres data: {pg_dir}/data" in up.stdout, up.stdout  # it says where
    assert (clone.state / "logs" / "postgres.log").stat().st_size > 0
    assert asyncio.run(asyncio.wait_for(_query(clone.pg_port), 30)) == 42
    assert _accepts(clone.kafka_port), f"nothing accepts on Kafka's port {clone.kafka_port}"

    again = clone.stack("up")  # idempotent: finds the same cluster through the link
    assert again.returncode == 0, f"second stack.sh up failed:\n{again.stdout}\n{again.stderr}"
    assert "already running" in again.stdout, again.stdout
    status = clone.stack("status")
    assert status.returncode == 0, status.stdout

    down = clone.stack("down")
    assert down.returncode == 0, f"stack.sh down failed:\n{down.stdout}\n{down.stderr}"
    assert "stopping PostgreSQL" in down.stdout and "stopping Kafka" in down.stdout, down.stdout
    assert not _processes_mentioning(str(clone.root), str(pg_dir)), "processes left after down"
    assert not _accepts(clone.pg_port) and not _accepts(clone.kafka_port)
    assert clone.stack("status").returncode == 1
    # down stops the cluster and keeps its data, as for a state dir postgres can reach.
    assert (pg_dir / "data" / "PG_VERSION").is_file()
    assert not (pg_dir / "data" / "postmaster.pid").exists()

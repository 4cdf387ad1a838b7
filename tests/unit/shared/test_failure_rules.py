"""Which failures the consumer waits out and which it blames on a message."""

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy.exc import DBAPIError

from shared.database import database_unavailable
from shared.messaging.consumer import failure_reason, is_transient


class ServerError(Exception):
    """Stands in for a driver error that carries the server's SQLSTATE."""

    def __init__(self, sqlstate: str | None, message: str = "refused") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail: str | None = None  # as asyncpg's errors carry the server's DETAIL


def database_error(sqlstate: str | None, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("INSERT ...", {}, ServerError(sqlstate), connection_invalidated=invalidated)


class PricingDown(Exception):
    pass


@pytest.mark.parametrize(
    "error",
    [
        database_error("08006"),  # connection failure
        database_error(None),  # the driver lost the connection, no server answer
        database_error("22021", invalidated=True),
        database_error("57014"),  # statement timeout
        database_error("57P01"),  # administrator shutdown
        database_error("40001"),  # serialization failure
        database_error("40P01"),  # deadlock
        database_error("53300"),  # too many connections
        database_error("55P03"),  # lock not available
        database_error("42P01"),  # no such table: the deployment, not the message
        ConnectionResetError(),
        TimeoutError(),
        PricingDown(),
    ],
)
def test_transient_or_deployment_trouble_is_waited_out(error: BaseException) -> None:
    assert is_transient(error, retry_on=(PricingDown,))


@pytest.mark.parametrize(
    "error",
    [
        database_error("22021"),  # character not in repertoire (U+0000 in text)
        database_error("22P05"),  # untranslatable character (U+0000 in jsonb)
        database_error("23514"),  # check violation
        database_error("22003"),  # numeric value out of range
        KeyError("recipients"),
        ValueError("bad"),
    ],
)
def test_anything_else_belongs_to_a_message(error: BaseException) -> None:
    assert not is_transient(error, retry_on=(PricingDown,))


def test_the_reason_names_the_error_and_its_first_line() -> None:
    error = DBAPIError("INSERT ...", {}, ServerError("22021", 'invalid byte "0x00"\nDETAIL: x'))
    assert failure_reason(error) == 'could not be recorded (ServerError): invalid byte "0x00"'


def test_the_reason_carries_the_databases_detail() -> None:
    error = ServerError("22P05", "unsupported Unicode escape sequence")
    error.detail = "\\u0000 cannot be converted to text."
    assert failure_reason(error) == (
        "could not be recorded (ServerError): unsupported Unicode escape sequence"
        " (\\u0000 cannot be converted to text.)"
    )


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (database_error("08006"), True),  # connection failure
        (database_error(None), True),  # lost before the server answered
        (database_error("53300"), True),  # too many connections
        (database_error("57P03"), True),  # the server is starting up
        (database_error("23505", invalidated=True), True),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), True),  # asyncpg's own
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), True),
        (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), True),  # no free connection
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),  # the read pool's acquire
        (database_error("23505"), False),  # unique violation: the request's own fault
        (database_error("40001"), False),  # a conflict the service itself retries
        (asyncpg.exceptions.UniqueViolationError("duplicate"), False),
        (sqlalchemy.exc.ArgumentError("bad"), False),
        (KeyError("x"), False),
    ],
)
def test_what_counts_as_the_database_out_of_reach(error: BaseException, unavailable: bool) -> None:
    assert database_unavailable(error) is unavailable

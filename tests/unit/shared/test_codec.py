"""The codec accepts what the schemas allow and names the field at fault for everything else."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import codec
from shared.codec import InvalidMessage, decode, encode, known_types
from shared.envelope import CloudEvent
from shared.topics import ALL_TOPICS, topic_for_type
from tests.support import messages

SENT = replace(
    messages.mailing_sent(
        "p-1",
        "c-1",
        5000,
        mailing_id="m-1",
        sent_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        event_id="evt-1",
    ),
    time=datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC),  # a second after the send
)


def mailing_sent(**changes: Any) -> dict[str, Any]:
    """The JSON document of a valid ``mailing.sent`` with its data changed after encoding."""
    return messages.as_published(SENT, **changes)


def raw(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_valid_mailing_sent_decodes_with_its_fields() -> None:
    event = decode(raw(mailing_sent(reservation_id="r-9")))
    assert event.id == "evt-1"
    assert event.type == "mailing.sent"
    assert event.time == datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)
    assert event.data["recipients"] == 5000
    assert event.data["reservation_id"] == "r-9"


def test_unknown_extra_fields_in_mailing_sent_are_tolerated() -> None:
    assert decode(raw(mailing_sent(campaign="black friday"))).data["campaign"] == "black friday"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (mailing_sent(recipients=-1), "$.data.recipients"),
        (mailing_sent(recipients="5000"), "$.data.recipients"),
        (mailing_sent(recipients=1.5), "$.data.recipients"),
        (mailing_sent(sent_at="yesterday"), "$.data.sent_at"),
        (mailing_sent(sent_at="2026-11-23T10:00:00"), "$.data.sent_at"),
        ({**mailing_sent(), "specversion": "0.3"}, "$.specversion"),
        ({**mailing_sent(), "type": "mailing.bounced"}, "$.type"),
        ({k: v for k, v in mailing_sent().items() if k != "id"}, "$"),
    ],
)
def test_invalid_messages_name_the_field_at_fault(document: object, field: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode(raw(document))
    assert caught.value.field == field


def test_a_missing_data_field_is_named_in_the_reason() -> None:
    document = mailing_sent()
    del document["data"]["customer_id"]
    with pytest.raises(InvalidMessage, match="customer_id"):
        decode(raw(document))


@pytest.mark.parametrize("payload", [b"", b"{not json", b"[]", b"null", None])
def test_garbage_is_an_invalid_message_not_a_crash(payload: bytes | None) -> None:
    with pytest.raises(InvalidMessage):
        decode(payload)


def test_encode_then_decode_gives_the_same_event() -> None:
    event = CloudEvent.new(
        "ledger.low_balance_reached",
        "/ledger",
        {
            "partner_id": "p-1",
            "balance": 900,
            "threshold": 1000,
            "locale": "de",
            "occurred_at": "2026-11-23T10:00:00+00:00",
        },
        subject="p-1",
    )
    assert decode(encode(event)) == event


def test_encode_refuses_a_payload_that_breaks_its_schema() -> None:
    event = CloudEvent.new("ledger.low_balance_reached", "/ledger", {"partner_id": "p-1"})
    with pytest.raises(InvalidMessage, match="balance"):
        encode(event)


def test_every_message_type_has_a_schema_and_exactly_one_topic() -> None:
    carried = [t for topic in ALL_TOPICS for t in topic.message_types]
    assert sorted(carried) == known_types()
    for message_type in known_types():
        assert message_type in topic_for_type(message_type).message_types


def test_datacontenttype_is_optional_and_means_json() -> None:
    document = mailing_sent()
    del document["datacontenttype"]
    assert decode(raw(document)).data["mailing_id"] == "m-1"
    assert decode(raw({**mailing_sent(), "datacontenttype": "application/json; charset=utf-8"}))


def test_data_that_is_not_json_is_refused_with_its_media_type() -> None:
    with pytest.raises(InvalidMessage, match="text/plain") as caught:
        decode(raw({**mailing_sent(), "datacontenttype": "text/plain"}))
    assert caught.value.field == "$.datacontenttype"


def test_structured_mode_takes_datacontenttype_from_the_content_type_header() -> None:
    # What the CloudEvents SDK's Kafka binding does: moves it out of the JSON into a header.
    document = mailing_sent()
    del document["datacontenttype"]
    assert decode(raw(document), [("content-type", b"application/json")]).id == "evt-1"
    with pytest.raises(InvalidMessage, match="datacontenttype"):
        decode(raw(document), [("content-type", b"application/xml")])
    # The structured-mode media type itself says nothing about the data.
    assert decode(raw(document), [("content-type", b"application/cloudevents+json")])


def binary_headers(**overrides: bytes) -> list[tuple[str, bytes]]:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-7",
        "ce_source": b"/other-mailer",
        "ce_type": b"mailing.sent",
        "ce_time": b"2026-11-23T10:00:01Z",
        "ce_subject": b"p-1",
        "ce_campaign": b"spring",
        "content-type": b"application/json",
        "traceparent": b"00-abc",
    }
    headers.update(overrides)
    return list(headers.items())


def test_binary_mode_reads_the_attributes_from_ce_headers_and_the_value_as_data() -> None:
    event = decode(raw(mailing_sent()["data"]), binary_headers())
    assert (event.id, event.source, event.type, event.subject) == (
        "evt-7",
        "/other-mailer",
        "mailing.sent",
        "p-1",
    )
    assert event.time == datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)
    assert event.data["recipients"] == 5000
    assert event.extensions == {"campaign": "spring"}  # other headers are not attributes


def test_binary_mode_faults_are_named_like_structured_ones() -> None:
    data = raw(mailing_sent()["data"])
    with pytest.raises(InvalidMessage) as missing:
        decode(data, [h for h in binary_headers() if h[0] != "ce_source"])
    assert "source" in str(missing.value)
    with pytest.raises(InvalidMessage) as bad_time:
        decode(data, binary_headers(ce_time=b"yesterday"))
    assert bad_time.value.field == "$.time"
    with pytest.raises(InvalidMessage, match="not JSON"):
        decode(b"{oops", binary_headers())
    with pytest.raises(InvalidMessage, match="UTF-8"):
        decode(data, binary_headers(ce_id=b"\xff\xfe"))


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (mailing_sent(mailing_id="m\u00001"), "$.data.mailing_id"),
        (mailing_sent(tags=["ok", "bad\u0000"]), "$.data.tags[1]"),
        (mailing_sent(extra={"key\u0000": 1}), "$.data.extra"),
        ({**mailing_sent(), "id": "evt\u0000"}, "$.id"),
        ({**mailing_sent(), "type": "mailing\u0000sent"}, "$.type"),
    ],
)
def test_u0000_anywhere_is_refused_before_it_reaches_the_database(
    document: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidMessage, match="U\\+0000") as caught:
        decode(raw(document))
    assert caught.value.field == field


def test_u0000_in_a_binary_mode_header_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="U\\+0000") as caught:
        decode(raw(mailing_sent()["data"]), binary_headers(ce_source=b"/mailer\x00"))
    assert caught.value.field == "$.source"


def test_an_escaped_backslash_before_u0000_is_only_text() -> None:
    assert decode(raw(mailing_sent(mailing_id="m\\u0000"))).data["mailing_id"] == "m\\u0000"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_FIELDS = st.sampled_from(
    ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data", "x"]
)
_DATA_FIELDS = st.sampled_from(
    ["mailing_id", "partner_id", "customer_id", "recipients", "sent_at", "reservation_id", "x"]
)
_TIMES = st.sampled_from(["2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00", "2026-13-01", ""])


@given(
    envelope=st.dictionaries(_FIELDS, _JSON_VALUES | _TIMES, max_size=3),
    data=st.dictionaries(_DATA_FIELDS, _JSON_VALUES | _TIMES, max_size=3),
    dropped=st.lists(_FIELDS | _DATA_FIELDS, max_size=2),
    message_type=st.sampled_from(["mailing.sent", "payments.payment_result", "nope", None]),
)
def test_the_one_call_check_agrees_with_the_envelope_and_data_checked_apart(
    envelope: dict[str, Any],
    data: dict[str, Any],
    dropped: list[str],
    message_type: str | None,
) -> None:
    document: dict[str, Any] = {**mailing_sent(), **envelope}
    if isinstance(document.get("data"), dict):
        document["data"] = {**document["data"], **data}
    if message_type is not None:
        document["type"] = message_type
    for name in dropped:
        document.pop(name, None)
        if isinstance(document.get("data"), dict):
            document["data"].pop(name, None)
    known = document.get("type") in known_types()
    apart = (
        codec._fast_check("cloudevent").is_valid(document)
        and known
        and codec._fast_check(document["type"]).is_valid(document["data"])
    )
    assert codec._is_valid_event(document) == apart

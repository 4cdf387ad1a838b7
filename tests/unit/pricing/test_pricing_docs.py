"""docs/pricing.md shows real answers: every /v1/evaluate example is re-evaluated here."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pricing.api.bodies import decode_json
from pricing.domain import PricingError
from pricing.service_layer.evaluation import evaluate

DOCS = Path(__file__).resolve().parents[3] / "docs" / "pricing.md"
EXAMPLE = re.compile(
    r"`POST /v1/evaluate`\n\n```json\n(?P<request>.*?)\n```\n\n→ `(?P<status>\d+)`\n\n"
    r"```json\n(?P<response>.*?)\n```",
    re.DOTALL,
)


def examples() -> list[tuple[str, int, Any]]:
    found = [
        (match["request"], int(match["status"]), json.loads(match["response"]))
        for match in EXAMPLE.finditer(DOCS.read_text(encoding="utf-8"))
    ]
    assert len(found) >= 10, "the examples of docs/pricing.md were not found"
    return found


@pytest.mark.parametrize(("request_text", "status", "response"), examples())
def test_the_documented_answer_is_the_real_one(
    request_text: str, status: int, response: Any
) -> None:
    document = decode_json(request_text.encode())
    if status == 200:
        assert evaluate(document) == response
        return
    with pytest.raises(PricingError) as caught:
        evaluate(document)
    assert [{"field": caught.value.path, "message": caught.value.message}] == response["errors"]

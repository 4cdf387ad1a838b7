"""Quick speed probe of the pricing domain: evaluations per second per model (10 tiers)."""

from __future__ import annotations

import time
from decimal import Decimal

from pricing.domain import FlatPrice, PriceModel, evaluate, evaluate_batch, parse_price_model


def _tiers(extra: dict[str, str]) -> list[dict[str, str | None]]:
    tiers: list[dict[str, str | None]] = [{"up_to": str(1000 * (i + 1)), **extra} for i in range(9)]
    tiers.append({"up_to": None, **extra})
    return tiers


MODELS: dict[str, PriceModel] = {
    "flat": FlatPrice(Decimal("0.0125")),
    "volume": parse_price_model(
        {"model": "volume", "tiers": _tiers({"unit_price": "0.0125", "flat_fee": "5"})}
    ),
    "graduated": parse_price_model(
        {"model": "graduated", "tiers": _tiers({"unit_price": "0.0125", "flat_fee": "5"})}
    ),
    "bucket": parse_price_model(
        {
            "model": "bucket",
            "tiers": [
                *(
                    {"up_to": str(1000 * (i + 1)), "bucket_price": "12.5", "bucket_size": "250"}
                    for i in range(9)
                ),
                {"up_to": None, "unit_price": "0.0125"},
            ],
        }
    ),
    "discount_volume": parse_price_model(
        {
            "model": "discount",
            "base_unit_price": "0.0125",
            "mode": "volume",
            "tiers": _tiers({"discount_percent": "2.5"}),
        }
    ),
    "discount_graduated": parse_price_model(
        {
            "model": "discount",
            "base_unit_price": "0.0125",
            "mode": "graduated",
            "tiers": _tiers({"discount_percent": "2.5"}),
        }
    ),
    "package": parse_price_model(
        {"model": "package", "package_size": "1000", "package_price": "9"}
    ),
    "free": parse_price_model({"model": "free"}),
}


def main(seconds: float = 0.5) -> None:
    quantity = Decimal("5432.5")  # in the middle of the 10 tiers
    for name, model in MODELS.items():
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(1000):
                evaluate(model, quantity, "EUR")
            count += 1000
        rate = count / (time.perf_counter() - start)
        print(f"{name:20s} {rate:12,.0f} evaluations/s")
    items = [(MODELS["graduated"], Decimal(q)) for q in range(0, 20_000, 20)]
    start = time.perf_counter()
    rounds = 0
    while time.perf_counter() - start < seconds:
        evaluate_batch(items, "EUR")
        rounds += 1
    rate = rounds * len(items) / (time.perf_counter() - start)
    print(f"{'batch graduated':20s} {rate:12,.0f} items/s")


if __name__ == "__main__":
    main()

"""Reconciliation names each payment the ledger and the gateway disagree on."""

from ledger.reconcile import RecordedPayment, compare


def paid(request_id: str, amount: int = 1000, paid: bool = True) -> RecordedPayment:
    return RecordedPayment(request_id, "p1", amount, "EUR", paid)


def test_agreeing_sides_have_no_mismatch() -> None:
    both = {"a": paid("a"), "b": paid("b", paid=False)}
    assert compare(both, {"a": paid("a"), "b": paid("b", paid=False)}) == []
    # Asked for, never paid, and the gateway has nothing: nothing to reconcile.
    assert compare({"c": paid("c", paid=False)}, {}) == []


def test_each_kind_of_disagreement_is_named() -> None:
    ledger = {
        "only-ours": paid("only-ours"),
        "unpaid-here": paid("unpaid-here", paid=False),
        "amount": paid("amount", 1000),
        "declined-there": paid("declined-there"),
    }
    gateway = {
        "unpaid-here": paid("unpaid-here"),
        "amount": paid("amount", 999),
        "declined-there": paid("declined-there", paid=False),
        "only-theirs": paid("only-theirs"),
    }
    problems = {m.request_id: m.problem for m in compare(ledger, gateway)}
    assert problems == {
        "only-ours": "paid in the ledger, not at the gateway",
        "declined-there": "paid in the ledger, not at the gateway",
        "unpaid-here": "paid at the gateway, not in the ledger",
        "only-theirs": "paid at the gateway, unknown to the ledger",
        "amount": "amount differs: ledger 1000 EUR, gateway 999 EUR",
    }

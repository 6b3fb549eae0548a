"""Prices of things."""

__all__ = ["price_of", "TAX_RATE"]

TAX_RATE = 0.2
_PRICES = {"apple": 1.0, "pear": 2.0}


def price_of(name: str) -> float:
    """The price of *name*, tax included."""
    return _PRICES[name] * (1 + TAX_RATE)


def _internal() -> None:
    pass

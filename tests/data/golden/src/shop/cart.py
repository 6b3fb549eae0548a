"""Shopping carts: add items, compute totals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .pricing import price_of
from . import payments

if TYPE_CHECKING:
    from .payments.card import Card


class Cart:
    """A cart of *items* with `quantities` | pipes & <tags>."""

    MAX_ITEMS = 100

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def add(self, name: str, quantity: int = 1) -> None:
        """Add `quantity` of _name_ to the cart."""
        self.items[name] = self.items.get(name, 0) + quantity

    @property
    def total(self) -> float:
        """The total price; see [docs](http://evil.example) ![x](y.png)."""
        return sum(price_of(n) * q for n, q in self.items.items())

    def pay(self, card: Card) -> bool:
        return payments.charge(card, self.total)


async def checkout(cart: Cart) -> float:
    """Check a cart out asynchronously."""
    return cart.total

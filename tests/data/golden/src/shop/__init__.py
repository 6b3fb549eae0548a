"""A tiny shop: carts, prices and payments."""

from .cart import Cart
from .pricing import *  # noqa: F403

__all__ = ["Cart", "price_of", "TAX_RATE"]

from shop import Cart
from shop.payments import Card


def test_total():
    cart = Cart()
    cart.add("apple")
    assert cart.total > 0

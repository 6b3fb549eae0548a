"""Odd names: a file whose path needs percent-encoding; `back`ticks and | pipes."""

from shop.cart import Cart, checkout


def weird_name_with__under_scores__(x):
    """Returns <b>bold</b> www.example.com"""
    return x


class Ünïcode_Klass(Cart):
    pass

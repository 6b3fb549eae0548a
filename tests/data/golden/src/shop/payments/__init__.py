"""Payments: charging cards."""

from .card import Card, charge

"""This file does not parse."""

def good():
    pass

def bad(:
    pass

class AfterError:
    def method(self):
        pass

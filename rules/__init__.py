"""The rule catalog: one module per rule, grouped by training area.

The engine discovers every `Rule` subclass below this package; nothing here is
registered by hand.
"""

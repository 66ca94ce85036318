"""Pure domain logic: no I/O and no framework imports, so it can be tested in microseconds.

May import: the standard library and msgspec only (checked by `make lint`).
"""

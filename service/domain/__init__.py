"""Pure domain logic: no I/O and no framework imports, so it can be tested in microseconds."""

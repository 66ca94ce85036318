"""Browser tests of the web console (a package, so its conftest is not mistaken for the suite's)."""

"""Quieting alerts on purpose: silences, maintenance windows and inhibition, and the one verdict they give."""

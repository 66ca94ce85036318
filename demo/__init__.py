"""`make demo`: the whole product in two minutes, narrated (see demo/story.py)."""

"""Every file we read: rule packs, rule tests, and the policies under rules/policy/.

One style for all of them: YAML that remembers lines (yaml_lines.py), decoded against msgspec
structs, every problem reported at once as `file:line: field: problem` (fields.py).
May import: domain (what the files decode into) and PyYAML; no I/O besides reading the file.
"""

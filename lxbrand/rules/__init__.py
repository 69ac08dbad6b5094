"""Rule families the engine decides and performs: [[path]] and [[network]] rules.

The policy layer validates a family's rules and compiles them into what the C
engine holds (csrc/paths.h, csrc/net.h); the engine then resolves, matches,
performs the judged call with the program's credentials and installs the
result, without Python.  patterns.py compiles their patterns.
"""

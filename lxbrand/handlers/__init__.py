"""Python handlers: what only code can decide.

    files.py   the open pipeline: hooks (the personality's files, remaps, fake root's
               /proc/PID/status) that answer opens by name; the engine's own view and
               [[path]] rules are answered in C before any hook runs

The rule families ([[path]], [[network]]) are not handlers: lxbrand/rules/ validates and
compiles them, and the engine decides and performs the calls they judge (csrc/paths.h,
csrc/net.h).  Paths as the program sees them, for hooks: lxbrand/guest.py.
"""

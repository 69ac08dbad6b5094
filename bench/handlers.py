"""Python handlers for lxrun policies written by the harness (`handler = "bench.handlers:NAME"`).

They do the least a handler can do, so the workload measures the cost of reaching Python and
coming back, not the handler's own work."""


def getppid(call):
    """Answer getppid with 1, as the C fast action `return = 1` does."""
    return 1

"""The runtime's one exception type.  Every message says what failed, on which input, and,
where it helps, what to do; the CLI prints it (and logs it as JSON for containerd)."""


class OCIError(Exception):
    """A runtime operation failed; str(e) is the message shown to the user."""

"""The library's exceptions: each message says what went wrong, in which input,
and what to do.  The CLI prints str(e) and exits with e.exit_code."""


class LxError(Exception):
    exit_code = 1


class PolicyError(LxError):
    """A policy that cannot be used.  Raised before anything runs."""
    exit_code = 2

    def __init__(self, source, key, problem):
        self.source, self.key, self.problem = source, key, problem
        where = f"policy {source}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {problem}")


class LaunchError(LxError):
    """The program could not be started (not found: 127, refused/not executable: 126)."""

    def __init__(self, message, exit_code=126):
        super().__init__(message)
        self.exit_code = exit_code


class ExecFormatError(LaunchError):
    """The executable is not an x86_64 ELF program (exit 126, as a shell's 'cannot execute')."""

    def __init__(self, message):
        super().__init__(message, 126)

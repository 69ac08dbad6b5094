"""rules.finder: the served-path lookup of the personality's open hooks gives what a
lookup by the request's guest path gives, with or without its byte-exact shortcut."""
from lxbrand.personality.rules import finder


class Req:
    def __init__(self, path, guest, resolve=0):
        self.path, self.guest_path, self.resolve = path, guest, resolve


def test_exact_and_normalised_paths_find_the_same_generator():
    gen = object()
    find = finder({"/proc/meminfo": gen})
    assert find(Req(b"/proc/meminfo", "/proc/meminfo")) == (gen, "meminfo")
    # not byte-exact: the guest path (what files.guest_path made of it) decides
    assert find(Req(b"/proc//./meminfo", "/proc/meminfo")) == (gen, "meminfo")
    assert find(Req(b"meminfo", "/proc/meminfo")) == (gen, "meminfo")          # relative, cwd /proc
    assert find(Req(b"meminfo", "/sys/meminfo")) is None
    assert find(Req(b"/proc/meminfo", None)) == (gen, "meminfo")                # cwd gone: exact still
    assert find(Req(b"x/../meminfo", None)) is None


def test_openat2_resolve_flags_always_go_through_the_guest_path():
    gen = object()
    find = finder({"/proc/meminfo": gen})
    # RESOLVE_BENEATH with an absolute path: files.guest_path gives no path (EXDEV)
    assert find(Req(b"/proc/meminfo", None, resolve=0x08)) is None
    assert find(Req(b"/proc/meminfo", "/proc/meminfo", resolve=0x10)) == (gen, "meminfo")

"""How the personality's rules merge into a policy: a deny or kill the policy
already has for a syscall stays (the stricter rule wins), and another Python
handler is never silently replaced."""
import os

from lxbrand.errors import PolicyError


def emulate(policy, names, **kw):
    """policy.emulate(names, **kw) for the names the policy does not deny or kill.
    Returns the names emulated."""
    if isinstance(names, str):
        names = [names]
    mine = kw.get("handler")
    out = []
    for n in names:
        r = policy.rules.get(n)
        act = policy.action_of(n).action
        if act in ("deny", "kill"):
            continue
        if r is not None and r.fast in ("path", "net"):
            raise PolicyError(policy.source, n, f"governed by [[{'network' if r.fast == 'net' else 'path'}]] rules "
                                                "(performed by the engine); the personality cannot also emulate it "
                                                "(remove the rules or the personality option)")
        if r is not None and r.handler is not None and r.handler is not mine \
                and not getattr(r.handler, "_lx_personality", False):
            raise PolicyError(policy.source, n, f"already emulated by {r.how()}; the personality needs this "
                                                "syscall (remove the rule or the personality option)")
        out.append(n)
    if out:
        if mine is not None:
            try:
                mine._lx_personality = True
            except AttributeError:  # bound methods: mark the function
                mine.__func__._lx_personality = True
        policy.emulate(out, **kw)
    return out


def finder(files):
    """find(req) -> (generator, basename) or None, for an open hook serving `files`
    ({guest path: generator}).  An absolute path without openat2 RESOLVE_* flags is its
    own guest path once normal (lxbrand.handlers.files.guest_path is lexical for those),
    so a byte-exact match skips the normalisation -- most of a hook's cost when it runs
    cold, between two programs; anything else is looked up by req.guest_path."""
    exact = {os.fsencode(p): (g, p.rsplit("/", 1)[-1]) for p, g in files.items()}

    def find(req):
        hit = exact.get(req.path) if not req.resolve else None
        if hit is None:
            gp = req.guest_path
            gen = files.get(gp) if gp else None
            if gen is not None:
                hit = (gen, gp.rsplit("/", 1)[-1])
        return hit
    return find

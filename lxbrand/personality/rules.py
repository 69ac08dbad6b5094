"""How the personality's rules get into a policy: through Policy.place, under the
owner of the module that asks (the stricter rule the policy has stays; a syscall
another owner traps is a PolicyError naming both)."""
import os


def emulate(policy, names, owner, **kw):
    """policy.emulate(names, **kw) as `owner` (a personality module's name) for the
    names the policy does not deny or kill.  Returns the names emulated."""
    if isinstance(names, str):
        names = [names]
    out = [n for n in names if policy.action_of(n).action not in ("deny", "kill")]
    if out:
        policy.emulate(out, owner=owner, **kw)
    return out


def finder(files):
    """find(req) -> (generator, basename) or None, for an open hook serving `files`
    ({guest path: generator}).  An absolute path without openat2 RESOLVE_* flags is its
    own guest path once normal (lxbrand.guest.guest_path is lexical for those),
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

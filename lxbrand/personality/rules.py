"""How the personality's rules merge into a policy: a deny or kill the policy
already has for a syscall stays (the stricter rule wins), and another Python
handler is never silently replaced."""
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
        if r is not None and r.handler is not None and mine is not None and r.handler is not mine \
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

"""What the rule tables of a policy share: errno names, and the shape of a rule
table ([[network]], [[path]]).  Imported by lxbrand.policy and by the rule
families alike, so that neither imports the other."""
import errno as _errno

from lxbrand.errors import PolicyError


def parse_errno(value, source="<api>", key="errno"):
    if isinstance(value, bool):
        raise PolicyError(source, key, f"expected an errno name like \"EPERM\" or a number, got {value!r}")
    if isinstance(value, int):
        if not 0 < value < 4096:
            raise PolicyError(source, key, f"errno {value} is out of range 1..4095")
        return value
    if isinstance(value, str):
        n = getattr(_errno, value.upper(), None)
        if isinstance(n, int):
            return n
        raise PolicyError(source, key, f"unknown errno name {value!r} (use a name like \"EPERM\" or \"ENOSYS\")")
    raise PolicyError(source, key, f"expected an errno name like \"EPERM\" or a number, got {type(value).__name__}")


def check_rule_table(r, source, key, known, actions):
    """The common shape of a rule table ([[network]], [[path]]): a table, only known
    keys, and an action among `actions`, which is returned."""
    if not isinstance(r, dict):
        raise PolicyError(source, key, "expected a table")
    for k in r:
        if k not in known:
            raise PolicyError(source, f"{key}.{k}", f"unknown key (known: {', '.join(sorted(known))})")
    action = r.get("action")
    if action not in actions:
        raise PolicyError(source, f"{key}.action", f"expected one of {', '.join(actions)}, got {action!r}")
    return action


def rule_errno_and_comment(r, action, source, key):
    """A rule table's `errno` (deny rules only; EACCES when absent) and `comment`."""
    err = _errno.EACCES
    if "errno" in r:
        if action != "deny":
            raise PolicyError(source, f"{key}.errno", "only a deny rule takes an errno")
        err = parse_errno(r["errno"], source, f"{key}.errno")
    comment = r.get("comment", "")
    if not isinstance(comment, str):
        raise PolicyError(source, f"{key}.comment", f"expected a string, got {comment!r}")
    return err, comment


def stderr_log(msg):
    import sys
    print(msg, file=sys.stderr, flush=True)

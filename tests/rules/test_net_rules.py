"""The engine decides [[network]] rules as the Python rules say (lxbrand/rules/net.py is
the reference, csrc/net.c the engine): random rules, random addresses, every op."""
import ipaddress
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxbrand import _core
from lxbrand.rules.net import OPS, Addr, NetPolicy, rule_from_dict

rule_tables = st.fixed_dictionaries(
    {"action": st.sampled_from(["allow", "deny"])},
    optional={"ops": st.lists(st.sampled_from(OPS), min_size=1, max_size=3, unique=True),
              "cidr": st.sampled_from([["127.0.0.0/8"], ["10.1.0.0/16", "127.0.0.2/32"], ["::1/128"],
                                       ["fe80::/10"], ["0.0.0.0/0"]]),
              "ports": st.sampled_from([[80], ["1000-2000"], [0, "65000-65535"]]),
              "errno": st.sampled_from(["EPERM", "ECONNREFUSED"])})


def fix(r):
    """Make a random table valid: a family for what it names."""
    r = dict(r)
    if r["action"] == "allow":
        r.pop("errno", None)
    if "cidr" in r:
        r["family"] = "inet6" if ":" in r["cidr"][0] else "inet"
    else:
        r["family"] = "inet"
    return r


unix_rules = st.fixed_dictionaries(
    {"action": st.sampled_from(["allow", "deny"]), "family": st.just("unix")},
    optional={"path": st.sampled_from([["/run/*.sock"], ["/run/a.sock"], ["/tmp/[ab]*"]]),
              "abstract": st.sampled_from([["app-*"], ["x?"]])})

addrs = st.one_of(
    st.builds(lambda ip, port: Addr("inet", ipaddress.ip_address(ip), port),
              st.sampled_from(["127.0.0.1", "127.0.0.2", "10.1.2.3", "192.168.1.1", "0.0.0.0"]),
              st.sampled_from([0, 80, 1500, 65001])),
    st.builds(lambda ip, port: Addr("inet6", ipaddress.ip_address(ip), port),
              st.sampled_from(["::1", "fe80::1", "2001:db8::1"]), st.sampled_from([0, 80, 1500])),
    st.builds(lambda p: Addr("unix", path=p), st.sampled_from(["/run/a.sock", "/run/b.sock", "/tmp/a1", "/x"])),
    st.builds(lambda a: Addr("unix", abstract=a), st.sampled_from([b"app-1", b"xy", b"other"])),
    st.just(Addr("unix")),
    st.just(Addr("netlink")))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(rule_tables.map(fix), unix_rules), max_size=5), st.sampled_from(["allow", "deny"]),
       st.lists(addrs, min_size=1, max_size=6))
def test_engine_decides_as_the_rules_say(tables, default, addresses):
    rules = [rule_from_dict(t, "t.toml", f"network[{i}]") for i, t in enumerate(tables, 1)]
    np_ = NetPolicy(rules, default)
    sup = _core.Supervisor(_core.BACKEND_UNOTIFY)
    np_.compile(sup)
    fam = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX, "netlink": socket.AF_NETLINK}
    for a in addresses:
        for i, op in enumerate(OPS):
            v = np_.decide(op, a)
            action = v if isinstance(v, str) else v.action
            want = 0 if action == "allow" else (13 if isinstance(v, str) else v.errno)
            ip = a.ip.packed if a.ip is not None else b""
            path = a.path.encode() if a.path is not None else None
            got = sup.net_decide(1 << i, fam[a.family], ip, a.port, path, a.abstract)
            assert got == want, (tables, default, a, op)

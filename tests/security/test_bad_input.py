"""Bad input: random policy tables, policy files and OCI config.json documents give
a clear error (PolicyError / ConfigError naming the file and key), never another
exception, and leave nothing behind."""
import json
import os
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lxbrand.errors import PolicyError
from lxbrand.oci import config as oci
from lxbrand.policy import Policy, from_dict, load_policy

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["allow", "deny", "kill", "trace", "emulate", "EPERM",
                                                            "ENOSYS", "getppid", "openat", "connect", "inet", "unix",
                                                            "127.0.0.1/8", "::1/128", "10.0.0.0/33", "80-81",
                                                            "/tmp/*", "uname", "4.4.0", "connect", "bind", "send",
                                                            "read", "write", "create", "stat", "exec", "/etc/shadow"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)

RULE_KEYS = ["syscalls", "action", "errno", "return", "fast", "comment", "bogus"]
NET_KEYS = ["action", "ops", "family", "cidr", "ports", "path", "abstract", "errno", "comment", "bogus"]
TOP_KEYS = ["name", "description", "default", "default_errno", "identity", "network_default", "personality",
            "path_default", "bogus"]
PATH_KEYS = ["action", "ops", "paths", "errno", "comment", "bogus"]
# handler specs are never random: importing arbitrary module names could have side effects
HANDLERS = st.sampled_from(["nomodule_xyz:f", "os:no_such_attr", "os.path:sep", "nocolon", 3, ["x"]])


def table(keys, extra=None):
    d = st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))
    if extra is not None:
        d = st.tuples(d, extra).map(lambda t: {**t[0], **t[1]})
    return d


rules = table(RULE_KEYS, st.dictionaries(st.just("handler"), HANDLERS, max_size=1))
nets = table(NET_KEYS)
pathrules = table(PATH_KEYS)
policies = st.tuples(table(TOP_KEYS),
                     st.one_of(st.none(), st.lists(st.one_of(rules, values), max_size=4), values),
                     st.one_of(st.none(), st.lists(st.one_of(nets, values), max_size=4), values),
                     st.one_of(st.none(), st.lists(st.one_of(pathrules, values), max_size=3), values)).map(
    lambda t: {**t[0], **({"rule": t[1]} if t[1] is not None else {}), **({"network": t[2]} if t[2] is not None else {}),
               **({"path": t[3]} if t[3] is not None else {})})


@SETTINGS
@given(policies)
def test_random_policy_tables_give_policy_errors(data):
    try:
        p = from_dict(data, source="fuzz.toml")
    except PolicyError as e:
        assert e.source == "fuzz.toml"
        assert str(e).startswith("policy fuzz.toml")
        assert e.problem
    else:
        assert isinstance(p, Policy)


@SETTINGS
@given(st.lists(st.one_of(nets, values), min_size=1, max_size=3))
def test_random_network_rules_name_the_rule(rules_):
    try:
        from_dict({"network": rules_}, source="n.toml")
    except PolicyError as e:
        assert e.key is None or e.key.startswith("network"), (e.key, str(e))


@SETTINGS
@given(st.lists(st.one_of(pathrules, values), min_size=1, max_size=3))
def test_random_path_rules_name_the_rule(rules_):
    try:
        from_dict({"path": rules_}, source="p.toml")
    except PolicyError as e:
        assert e.key is None or e.key.startswith("path"), (e.key, str(e))


toml_text = st.one_of(
    st.text(alphabet=string.printable, max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.lists(st.sampled_from(['default = "deny"', '[[rule]]', 'syscalls = ["getppid"]', 'action = "emulate"',
                              'return = 1', '[[network]]', 'action = "allow"', 'cidr = ["127.0.0.0/8"]',
                              'ports = [1, "2-3"]', 'family = "unix"', 'path = ["/x"]', '[identity]',
                              'release = "4.4"', 'errno = "EBOGUS"', 'x = ', '"', '[personality]', 'ops = ["send"]',
                              'network_default = "deny"', '[[rule]]\nsyscalls = "ptrace"\naction = "allow"',
                              '[[path]]', 'paths = ["/x", "rel"]', 'ops = ["read", "fly"]', 'path_default = "deny"']),
             max_size=12).map("\n".join))


@SETTINGS
@given(toml_text)
def test_random_policy_files_give_policy_errors(tmp_path_factory, text):
    d = tmp_path_factory.mktemp("pol")
    f = d / "fuzz.toml"
    f.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_policy(str(f))
    except PolicyError as e:
        assert e.source == str(f)
    assert os.listdir(d) == ["fuzz.toml"], "loading a policy left files behind"



OCI_KEYS = ["ociVersion", "root", "process", "hostname", "mounts", "hooks", "linux", "annotations", "bogus"]
PROC_KEYS = ["terminal", "args", "env", "cwd", "user", "capabilities", "rlimits", "bogus"]
LINUX_KEYS = ["namespaces", "uidMappings", "gidMappings", "cgroupsPath", "resources", "sysctl", "maskedPaths",
              "readonlyPaths", "devices", "seccomp", "rootfsPropagation", "bogus"]
specs = st.tuples(table(OCI_KEYS), table(PROC_KEYS), table(LINUX_KEYS),
                  st.sampled_from([None, "1.0.2", "0.9", 1])).map(
    lambda t: {**t[0], "process": t[1], "linux": t[2], **({"ociVersion": t[3]} if t[3] is not None else {}),
               "root": {"path": "rootfs"}})


@SETTINGS
@given(st.one_of(specs, values))
def test_random_oci_configs_give_config_errors(spec):
    try:
        oci.validate(spec, "config.json")
    except oci.ConfigError as e:
        assert str(e).startswith("config.json: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), specs.map(lambda s: json.dumps(s).encode())))
def test_random_bundles_give_config_errors(tmp_path_factory, raw):
    b = tmp_path_factory.mktemp("bundle")
    (b / "config.json").write_bytes(raw)
    try:
        oci.load_bundle(str(b))
    except oci.ConfigError as e:
        assert str(b / "config.json") in str(e)
    assert sorted(os.listdir(b)) == ["config.json"]

"""The LX personality: a consistent, limit-aware Linux for the sandboxed program.

One object turns options into policy rules, for lxrun and for the OCI runtime:

    from lxbrand.personality import Personality
    Personality(memory="256M", cpus=1, release="4.4.0-lx", hostname="zone1",
                fake_root=False, files={"/etc/motd": b"hello\\n"}).apply(policy)

What each option does, one module per concern:

    identity.py   release/version/machine/hostname/domainname: uname(2) in C and
                  /proc/version, /proc/sys/kernel/{osrelease,version,hostname,domainname,ostype}
    era.py        syscalls newer than the emulated release fail with ENOSYS (in the kernel)
    resources.py  memory/cpus: the options, parsed
    view.py       what the engine serves in C (csrc/persona.c) from identity, memory and cpus:
                  /proc/meminfo, cpuinfo, stat, uptime, loadavg, the identity files,
                  /sys/devices/system/cpu/{online,possible,present}, sysinfo, sched_getaffinity,
                  the cgroup limit files the JVM, Go and libuv read (memory.limit_in_bytes,
                  cpu.cfs_quota_us, memory.max, cpu.max, ...)
    fakeroot.py   fake_root: uid/gid 0, chown/mknod recorded, stat shows the faked owner,
                  access as root; fakeids.py: the faked ids and capabilities (set*id, capset)
    remap.py      files (guest path -> host file or content), remaps (syscall -> syscall, ptrace)

Files are served through the policy's open pipeline (lxbrand.handlers.files): the
view's by the engine itself, the others (remapped files, fake root's status files)
by Python hooks.  A personality of identity, memory and cpus alone needs no Python
at run time (needs_python()): lxrun's C front end and the OCI runtime's C
supervisor run it from the compiled policy (its blob carries the view).
Applying a second Personality to the same policy merges it over the first (later
values win), so a policy's [personality] table and command-line options combine.
"""
import os

from lxbrand.errors import PolicyError

IDENTITY = ("release", "version", "machine", "hostname", "domainname", "sysname")
KEYS = IDENTITY + ("era", "memory", "cpus", "cgroups", "fake_root", "files", "remap")
TAG = "personality"


class Personality:
    # Set for an OCI container's personality (from_oci): the runtime's own last setup
    # steps (set*id, capset) run under the engine's filter and must stay real.
    container = False

    def __init__(self, release=None, version=None, machine=None, hostname=None, domainname=None,
                 sysname=None, era=None, memory=None, cpus=None, cgroups=None, fake_root=None, files=None,
                 remap=None, start=None, usage_cgroup=None, source="<api>"):
        from lxbrand.personality import remap as _remap
        from lxbrand.personality.resources import parse_cpus, parse_size
        self.source = source
        self.release, self.version, self.machine = release, version, machine
        self.hostname, self.domainname, self.sysname = hostname, domainname, sysname
        for k in IDENTITY:
            v = getattr(self, k)
            if v is not None and (not isinstance(v, str) or len(v.encode()) > 64 or "\0" in v or not v):
                raise PolicyError(source, k, "must be a non-empty string of at most 64 bytes")
        if era is not None and not isinstance(era, bool):
            raise PolicyError(source, "era", f"expected true or false, got {era!r}")
        self.era = era
        try:
            self.memory = parse_size(memory) if memory is not None else None
        except ValueError as e:
            raise PolicyError(source, "memory", str(e)) from None
        try:
            self.cpus = parse_cpus(cpus) if cpus is not None else None
        except ValueError as e:
            raise PolicyError(source, "cpus", str(e)) from None
        if cgroups is not None and not isinstance(cgroups, bool):
            raise PolicyError(source, "cgroups", f"expected true or false, got {cgroups!r}")
        self.cgroups = cgroups      # False: leave the cgroup files the kernel's (the OCI runtime's cgroup enforces)
        if fake_root is not None and not isinstance(fake_root, bool):
            raise PolicyError(source, "fake_root", f"expected true or false, got {fake_root!r}")
        self.fake_root = fake_root
        self.files = {}
        for guest, src in (files or {}).items():
            key = f"files.{guest!r}"
            if not isinstance(guest, str) or not guest.startswith("/"):
                raise PolicyError(source, key, "the guest path must be absolute")
            if isinstance(src, str):
                if not os.path.isfile(src):
                    raise PolicyError(source, key, f"host file {src!r} does not exist or is not a regular file")
                src = os.path.abspath(src)
            elif not isinstance(src, bytes):
                raise PolicyError(source, key, "expected a host path (str) or content (bytes)")
            self.files[guest] = src
        self.remap = []
        for i, r in enumerate(remap or []):
            if isinstance(r, _remap.SyscallRemap):
                self.remap.append(r)
                continue
            if not isinstance(r, dict):
                raise PolicyError(source, f"remap[{i + 1}]", "expected a table {syscall, to, args}")
            unknown = set(r) - {"syscall", "to", "args", "comment"}
            if unknown:
                raise PolicyError(source, f"remap[{i + 1}].{sorted(unknown)[0]}",
                                  "unknown key (known: args, comment, syscall, to)")
            for k in ("syscall", "to"):
                if not isinstance(r.get(k), str):
                    raise PolicyError(source, f"remap[{i + 1}].{k}", "missing (a syscall name)")
            self.remap.append(_remap.SyscallRemap(r["syscall"], r["to"], r.get("args"), source, f"remap[{i + 1}]"))
        if start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))
                                  or not 0 <= start < float("inf")):
            raise PolicyError(source, "start", f"expected CLOCK_BOOTTIME seconds (a number >= 0), got {start!r}")
        self.start = start
        if usage_cgroup is not None and (not isinstance(usage_cgroup, str) or not usage_cgroup.startswith("/")
                                         or "\0" in usage_cgroup or len(usage_cgroup.encode()) >= 4096):
            raise PolicyError(source, "usage_cgroup", f"expected an absolute directory, got {usage_cgroup!r}")
        # the memory cgroup the sandbox's usage is read from: None reads the process tree
        # (lxrun), or for a container the cgroup of its first process
        self.usage_cgroup = usage_cgroup
        self.view_flags = 0     # what the engine's view shows, once applied (view.flags)

    # -- building ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data, source="<dict>", base_dir="."):
        """From a policy's [personality] table; host paths are relative to base_dir
        (the policy file's directory)."""
        if not isinstance(data, dict):
            raise PolicyError(source, "personality", "expected a table")
        for k in data:
            if k not in KEYS:
                raise PolicyError(source, f"personality.{k}", f"unknown key (known: {', '.join(sorted(KEYS))})")
        kw = {k: v for k, v in data.items() if k not in ("files", "remap")}
        files = {}
        raw = data.get("files", {})
        if not isinstance(raw, dict):
            raise PolicyError(source, "personality.files", "expected a table of \"/guest/path\" = \"host path\"")
        for guest, src in raw.items():
            key = f"personality.files.{guest!r}"
            if isinstance(src, dict):
                if set(src) == {"content"} and isinstance(src["content"], str):
                    src = src["content"].encode()
                elif set(src) == {"path"} and isinstance(src["path"], str):
                    src = src["path"]
                else:
                    raise PolicyError(source, key, "expected \"host path\", {path = \"...\"} or {content = \"...\"}")
            if isinstance(src, str):
                src = os.path.join(base_dir, src)
            elif not isinstance(src, bytes):
                raise PolicyError(source, key, f"expected a host path or {{content = \"...\"}}, got {src!r}")
            files[guest] = src
        remap = data.get("remap", [])
        if not isinstance(remap, list):
            raise PolicyError(source, "personality.remap", "expected an array of tables ([[personality.remap]])")
        try:
            return cls(files=files, remap=remap, source=source, **kw)
        except PolicyError as e:
            if e.key and not e.key.startswith("personality."):
                raise PolicyError(source, f"personality.{e.key}", e.problem) from None
            raise

    @classmethod
    def from_oci(cls, spec):
        """From an OCI runtime config (config.json as a dict): hostname,
        linux.resources.memory.limit, linux.resources.cpu quota/period (or its cpuset),
        and the annotations org.lxbrand.kernel-release / .fake-root.  Unlimited or
        absent values are left to the host's."""
        res = ((spec.get("linux") or {}).get("resources") or {})
        mem = (res.get("memory") or {}).get("limit")
        cpu = res.get("cpu") or {}
        cpus = None
        quota, period = cpu.get("quota"), cpu.get("period") or 100000
        if isinstance(quota, int) and quota > 0 and period > 0:
            cpus = quota / period
        elif isinstance(cpu.get("cpus"), str) and cpu["cpus"].strip():
            from lxbrand.personality.resources import cpu_list
            cpus = len(cpu_list(cpu["cpus"])) or None
        ann = spec.get("annotations") or {}
        fake = ann.get("org.lxbrand.fake-root")
        p = cls(hostname=spec.get("hostname") or None,
                   memory=mem if isinstance(mem, int) and mem > 0 else None,
                   cpus=cpus, cgroups=False, release=ann.get("org.lxbrand.kernel-release") or None,
                   fake_root=True if fake in ("true", "1", "yes") else None, source="OCI config")
        p.container = True
        return p

    def merged(self, other):
        """self with every option `other` sets laid over it."""
        out = Personality.__new__(Personality)
        out.__dict__.update(self.__dict__)
        for k in IDENTITY + ("era", "memory", "cpus", "cgroups", "fake_root", "start", "usage_cgroup"):
            v = getattr(other, k)
            if v is not None:
                setattr(out, k, v)
        out.files = {**self.files, **other.files}
        out.remap = self.remap + other.remap
        out.source = other.source
        return out

    def is_empty(self):
        return not (any(getattr(self, k) is not None for k in IDENTITY + ("memory", "cpus"))
                    or self.fake_root or self.files or self.remap)

    def needs_python(self):
        """True if the program needs Python handlers under this personality (fake root,
        remapped files, syscall remaps); identity, era and the resource view are all
        answered by the engine in C."""
        return bool(self.fake_root or self.files or self.remap)

    def configure(self, sup):
        """Configure the engine's view on a _core.Supervisor (lxbrand.engine.apply_policy
        calls it; the compiled policy's blob then carries it)."""
        from lxbrand.personality import view
        view.configure(sup, self)

    def identity(self):
        """The uname fields this personality sets (policy.set_identity names)."""
        f = dict(release=self.release, version=self.version, machine=self.machine,
                 nodename=self.hostname, domainname=self.domainname, sysname=self.sysname)
        return {k: v for k, v in f.items() if v is not None}

    # -- applying -------------------------------------------------------------------
    def apply(self, policy):
        """Turn this personality into rules of `policy` (in place; returns policy).
        A personality applied before is merged under this one."""
        prev = getattr(policy, "personality", None)
        if prev is not None:
            _restore(policy)
            eff = prev.merged(self)
        else:
            eff = self
        before_rules, before_ident = dict(policy.rules), dict(policy.identity)
        before_pipe = getattr(policy, "file_pipeline", None)
        policy.personality = eff
        eff._install(policy)
        # Remember exactly what this personality changed, so that applying another one
        # undoes only that (rules the caller added in between stay).
        changed = {n: before_rules.get(n) for n, r in policy.rules.items() if before_rules.get(n) is not r}
        policy._lx_saved = (changed, {n: policy.rules[n] for n in changed}, before_ident,
                            dict(policy.identity), before_pipe)
        return policy

    def _install(self, policy):
        from lxbrand.handlers import files
        from lxbrand.personality import era, fakeroot, identity, remap, view
        self.hidden = []
        ident = {**policy.identity, **self.identity()}
        # Under the OCI runtime the container's cgroup holds the real limits (cgroups
        # False) and its usage; lxrun shows the limits in its own cgroup's files.
        self.view_flags = view.flags(identity=bool(ident), memory=self.memory, cpus=self.cpus,
                                     cgroups=self.cgroups is not False,
                                     container=self.container or self.usage_cgroup is not None)
        needs_files = bool(self.view_flags or self.fake_root or self.files)
        pipe = files.pipeline(policy) if needs_files else None
        remap.install(policy, pipe, self.files, self.remap, TAG)
        if self.fake_root:
            fakeroot.install(policy, pipe, TAG, track_ids=not self.container)
        if ident:
            identity.install(policy, ident)
            if self.era is not False and "release" in ident:
                self.hidden = era.install(policy, ident["release"])
        if self.view_flags:
            view.install(policy, pipe, self.view_flags, TAG)

    def describe(self):
        """One line per effect, for --list and docs."""
        out = []
        ident = self.identity()
        if ident:
            out.append("identity: " + ", ".join(f"{k}={v}" for k, v in ident.items()))
        if self.memory is not None:
            out.append(f"memory: {self.memory} bytes")
        if self.cpus is not None:
            out.append(f"cpus: {self.cpus:g}")
        if self.fake_root:
            out.append("fake root")
        for g, s in self.files.items():
            out.append(f"file: {g} <- {s if isinstance(s, str) else f'{len(s)} bytes'}")
        for r in self.remap:
            out.append(f"remap: {r.describe()}")
        return out


def _restore(policy):
    """Undo the rules a personality installed (those still in place)."""
    saved = getattr(policy, "_lx_saved", None)
    if saved is None:
        return
    changed, installed, ident_before, ident_after, pipe = saved
    cur = getattr(policy, "file_pipeline", None)
    if cur is not None:
        cur.remove(TAG)
    keep_pipe = cur is not None and (cur.hooks or pipe is not None)   # others' hooks stay served
    for name, prev in changed.items():
        if keep_pipe and installed[name].handler is cur:
            continue
        if policy.rules.get(name) is installed[name]:
            if prev is None:
                policy.rules.pop(name, None)
            else:
                policy.rules[name] = prev
    if policy.identity == ident_after:
        policy.identity.clear()
        policy.identity.update(ident_before)
    if cur is not None and not keep_pipe:
        policy.file_pipeline = None   # ours, now empty: pipeline() reinstalls it if needed
    policy._lx_saved = None

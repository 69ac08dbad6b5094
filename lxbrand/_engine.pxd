# C declarations of the engine (csrc/engine.h) for the Cython binding.
from libc.stdint cimport uint8_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t
from posix.types cimport pid_t

cdef extern from "trace.h" nogil:
    struct lx_capplan:
        uint8_t what[6]
        uint16_t param[6]
    enum: LX_CAP_STRSIZE_MAX


cdef extern from "engine.h" nogil:
    enum: LX_NR_MAX
    enum lx_backend:
        LX_BACKEND_UNOTIFY
        LX_BACKEND_PTRACE
    enum lx_kind:
        LX_ACT_ALLOW
        LX_ACT_DENY
        LX_ACT_KILL
        LX_ACT_TRACE
        LX_ACT_RETURN
        LX_ACT_UNAME
        LX_ACT_PYTHON
        LX_ACT_PATH
        LX_ACT_NET
        LX_ACT_WATCH
        LX_ACT_PERSONA
        LX_ACT_DEBUG
    enum: LX_PATH_UPCALL_ALL

    struct lx_action:
        uint8_t kind
        uint8_t str_args
        uint8_t gate_arg
        int32_t err
        int64_t value

    struct lx_utsname:
        char sysname[65]
        char nodename[65]
        char release[65]
        char version[65]
        char machine[65]
        char domainname[65]

    struct lx_sup

    struct lx_call:
        int32_t nr
        pid_t pid
        pid_t tid
        uint64_t args[6]
        uint64_t id
        int backend
        lx_sup *sup
        int64_t ret
        int cont
        int rewrite
        int sent
        const char *path

    ctypedef int (*lx_handler_fn)(void *ctx, lx_call *call) noexcept
    ctypedef void (*lx_flush_fn)(void *ctx, const uint8_t *frames, size_t len) noexcept

    struct lx_sup:
        int backend
        void *paths
        void *net
        lx_action table[512]
        lx_action dflt
        lx_utsname uts
        lx_handler_fn handler
        lx_flush_fn flush
        void (*thread_enter)(lx_sup *s) noexcept nogil
        void (*thread_exit)(lx_sup *s) noexcept nogil
        void *py_ts
        int py_gs
        void *ctx
        int (*exec_check)(void *ctx, pid_t tid) noexcept
        uint64_t count[512]
        uint64_t errors[512]
        uint64_t ns[512]
        int recording
        int trace_exit
        int rec_from_exec
        int rec_started
        lx_capplan *plan
        unsigned strsize
        int notify_fd
        pid_t child
        int main_status_valid
        int main_status
        int sync_wakeup
        int notify_error
        uint64_t traps
        int wait_first

    int lx_sup_init(lx_sup *s, int backend)
    int lx_child_backend(const lx_sup *s)
    void lx_sup_free(lx_sup *s)
    int lx_filter_compile(const lx_sup *s, void **out, size_t *out_len)
    enum: LX_PROT_TTY
    enum: LX_PROT_SUPERVISOR
    enum: LX_PROT_LISTENER
    unsigned lx_filter_protections(int nr)
    int lx_child_exec(const void *prog, size_t prog_len, int backend, int ready_fd, int go_fd,
                      const char *path, char *const argv[], char *const envp[])
    int lx_child_filter(const void *prog, size_t prog_len, int backend, int ready_fd, int go_fd, int nnp, int pdeathsig)
    ssize_t lx_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
    ssize_t lx_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
    ssize_t lx_mem_read_str(pid_t pid, uint64_t addr, char *buf, size_t cap)
    int lx_gate_set(lx_sup *s, char *const names[], size_t n)
    uint64_t lx_now_ns()
    int lx_id_valid(lx_sup *s, uint64_t id)
    int lx_addfd(lx_sup *s, uint64_t id, int srcfd, int send, unsigned int newfd_flags)
    int lx_notify_send(lx_sup *s, uint64_t id, int64_t ret)
    int lx_ptrace_addfd(lx_sup *s, pid_t tid, int fd, int cloexec)
    int lx_install_fd(lx_sup *s, lx_call *c, int fd, int cloexec)
    int lx_supervise_attached(lx_sup *s, int child, int ready_fd, int go_fd, int ctl_fd)
    int lx_supervise(lx_sup *s, pid_t child, int ready_fd, int go_fd)
    void lx_signals_install(lx_sup *s)
    void lx_signals_restore()

cdef extern from "<seccomp.h>" nogil:
    enum: SCMP_ARCH_X86_64
    int seccomp_syscall_resolve_name_arch(unsigned int arch_token, const char *name)
    char *seccomp_syscall_resolve_num_arch(unsigned int arch_token, int num)

cdef extern from "match.h" nogil:
    size_t lx_decode(const char *s, size_t n, uint32_t *out, int mode)
    int lx_glob(const uint32_t *tok, size_t ntok, const uint32_t *s, size_t n)
    int lx_tokens_valid(const uint32_t *tok, size_t ntok)

cdef extern from "paths.h" nogil:
    int lx_paths_new(lx_sup *s, int default_allow, int log)
    int lx_paths_add(lx_sup *s, int allow, unsigned ops, int err, uint32_t npat, const uint8_t *globs,
                     const void *const *data, const size_t *lens)
    int lx_paths_decide(const void *r, unsigned op, const char *path, size_t n)

cdef extern from "net.h" nogil:
    struct lx_cidr:
        uint8_t v6
        uint8_t plen
        uint8_t addr[16]
    struct lx_sockaddr:
        int family
        uint8_t ip[16]
        uint16_t port
        const char *path
        size_t plen
        const uint8_t *abstract
        size_t alen
    int lx_net_new(lx_sup *s, int default_allow, int log, int refuse_sctp)
    int lx_net_add(lx_sup *s, int allow, unsigned ops, int err, int family, uint32_t ncidr,
                   const lx_cidr *cidr, uint32_t nports, const uint16_t *ports, uint32_t npaths,
                   const void *const *paths, const size_t *plens, uint32_t nabs, const void *const *abs,
                   const size_t *alens)
    int lx_net_decide(const void *n, unsigned op, const lx_sockaddr *a)

cdef extern from "view.h" nogil:
    int lx_views_watched(int nr)

cdef extern from "blob.h" nogil:
    struct lx_buf:
        uint8_t *data
        size_t len
        size_t cap
    void lx_buf_free(lx_buf *b)
    ssize_t lx_blob_export(const lx_sup *s, unsigned int uts_mask, void **out)
    int lx_blob_import(lx_sup *s, const void *buf, size_t len)

cdef extern from "persona.h" nogil:
    enum:
        LX_PV_IDENTITY
        LX_PV_MEMORY
        LX_PV_CPUS
        LX_PV_CGROUPS
        LX_PV_USAGE_CGROUP
    struct lx_persona_conf:
        uint32_t flags
        uint64_t memory
        double cpus
        double start
        char usage_dir[4096]
    int lx_persona_set(lx_sup *s, const lx_persona_conf *conf, const char *host_root)
    int lx_persona_open(lx_sup *s, lx_call *c, const char *path, int dirfd, uint64_t flags, uint64_t resolve)
    size_t lx_persona_basenames(uint32_t flags, const char **out, size_t cap)
    int lx_persona_content(lx_sup *s, const char *path, lx_buf *out)
    int lx_persona_cgroup_dirs(lx_sup *s, lx_buf *out)


cdef extern from "events.h" nogil:
    enum: LX_EVS_EXEC
    enum: LX_EVS_NET
    enum: LX_EVS_DENY
    enum: LX_EVSRC_SYSCALL
    enum: LX_EVSRC_PATH
    enum: LX_EVSRC_NET
    int lx_events_set(lx_sup *s, uint32_t flags)
    int lx_events_note(lx_sup *s, int family, int index, const char *text)

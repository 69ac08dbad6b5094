/* process.json (a config.json `process` object, what `exec --process` gets), parsed. */
#ifndef LX_RT_PROCESS_H
#define LX_RT_PROCESS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rt_rlimit {
    int resource;
    unsigned long long soft, hard; /* RLIM_INFINITY as given (2^64-1) */
};

struct rt_process {
    void *json;             /* owns every string below (jansson) */
    const char **args;      /* NULL-terminated */
    const char **env;       /* NULL-terminated, KEY=VALUE */
    const char *cwd;
    int terminal;
    unsigned short rows, cols;
    uid_t uid;
    gid_t gid;
    int umask;              /* -1: not set */
    gid_t *gids;
    size_t ngids;
    int has_caps;
    uint64_t caps[5];       /* RT_CAP_* sets as masks */
    int nnp;
    struct rt_rlimit *rlimits;
    size_t nrlimits;
    int has_oom;
    int oom_score_adj;
};
enum { RT_CAP_BOUNDING, RT_CAP_EFFECTIVE, RT_CAP_PERMITTED, RT_CAP_INHERITABLE, RT_CAP_AMBIENT };

/* 0, or RT_FALLBACK for anything the Python runtime should judge (a malformed file,
 * an unknown capability or rlimit, a key this parser does not implement): it words
 * the error exactly, naming the key. */
int rt_process_load(const char *path, struct rt_process *p);
/* the same from a parsed object (a json_t * that outlives p: config.json's "process") */
int rt_process_parse(void *obj, struct rt_process *p);
void rt_process_free(struct rt_process *p);
/* caps.c */
int rt_cap_number(const char *name); /* -1 if unknown */
int rt_caps_drop_bounding(uint64_t keep);
int rt_caps_apply(const struct rt_process *p); /* effective/permitted/inheritable, ambient */
uint64_t rt_caps_permitted_now(void);
int rt_capset(uint64_t eff, uint64_t prm, uint64_t inh);
#endif

#ifndef LX_BLOB_H
#define LX_BLOB_H
#include "engine.h"

#define LX_BLOB_MAGIC "LXPOL\0\0\1"
#define LX_BLOB_ABI 1

/* which uname fields the policy itself emulates ([identity] in TOML) */
enum { LX_UTS_SYSNAME = 1, LX_UTS_NODENAME = 2, LX_UTS_RELEASE = 4, LX_UTS_VERSION = 8,
       LX_UTS_MACHINE = 16, LX_UTS_DOMAINNAME = 32 };

struct lx_blob {
    char magic[8];
    uint32_t abi, size;
    struct lx_action table[LX_NR_MAX];
    struct lx_action dflt;
    uint32_t uts_mask;
    struct lx_utsname uts;
};

size_t lx_blob_size(void);
void lx_blob_export(const struct lx_sup *s, uint32_t uts_mask, struct lx_blob *b);
int lx_blob_import(struct lx_sup *s, const struct lx_blob *b);
#endif

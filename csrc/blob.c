/* A compiled policy as bytes: the action table plus the emulated uname fields.
 *
 * The Python policy layer is the only producer (it validates and compiles the
 * policy); the C front end of lxrun is the consumer, so a plain run does not
 * pay for starting Python.  The blob is tied to the build that wrote it
 * (LX_BLOB_ABI and the cache key, which contains the launcher's build id). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "blob.h"

size_t lx_blob_size(void) { return sizeof(struct lx_blob); }

void lx_blob_export(const struct lx_sup *s, uint32_t uts_mask, struct lx_blob *b)
{
    memset(b, 0, sizeof(*b));
    memcpy(b->magic, LX_BLOB_MAGIC, sizeof(b->magic));
    b->abi = LX_BLOB_ABI;
    b->size = (uint32_t)sizeof(*b);
    memcpy(b->table, s->table, sizeof(b->table));
    b->dflt = s->dflt;
    b->uts_mask = uts_mask;
    b->uts = s->uts;
}

int lx_blob_import(struct lx_sup *s, const struct lx_blob *b)
{
    if (memcmp(b->magic, LX_BLOB_MAGIC, sizeof(b->magic)) || b->abi != LX_BLOB_ABI || b->size != sizeof(*b))
        return -EINVAL;
    for (int i = 0; i < LX_NR_MAX; i++)
        if (b->table[i].kind > LX_ACT_UNAME) /* PYTHON (or anything unknown) needs the Python layer */
            return -ENOTSUP;
    if (b->dflt.kind > LX_ACT_UNAME)
        return -ENOTSUP;
    memcpy(s->table, b->table, sizeof(s->table));
    s->dflt = b->dflt;
    return 0;
}

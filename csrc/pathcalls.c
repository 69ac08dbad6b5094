/* The path calls other than opens and execs under [[path]] rules (paths.h). */
#define _GNU_SOURCE
#include <errno.h>

#include "engine.h"
#include "paths.h"

int lx_path_other(struct lx_sup *s, struct lx_call *c, const struct lx_action *a)
{
    (void)a;
    return lx_upcall(s, c);
}

/* state ID: the container's state as JSON (runtime-spec runtime.md#state), as
 * lxbrand/oci/state.py's oci_state() prints it: the status derived, not stored, as runc
 * does -- init gone or a zombie: stopped; exec.fifo present: created; frozen: paused;
 * else running.  A state this file cannot read is the Python runtime's to word. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

int rt_state(const char *id)
{
    struct rt_state f;
    if (rt_state_read(id, &f) != 0)
        return RT_FALLBACK; /* absent or unexpected: Python says which */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", f.dir);
    json_error_t jerr;
    json_t *st = json_load_file(path, 0, &jerr);
    if (!json_is_object(st)) {
        json_decref(st);
        return RT_FALLBACK;
    }
    const char *status;
    snprintf(path, sizeof path, "%s/exec.fifo", f.dir);
    if (!rt_running(f.pid, f.start))
        status = "stopped";
    else if (access(path, F_OK) == 0)
        status = "created";
    else if (rt_frozen(&f))
        status = "paused";
    else
        status = "running";
    json_t *ann = json_object_get(st, "annotations");
    const char *s;
    json_t *out = json_object();
    json_object_set_new(out, "ociVersion", json_string("1.0.2"));
    json_object_set_new(out, "id", json_string(id));
    json_object_set_new(out, "status", json_string(status));
    json_object_set_new(out, "pid", json_integer(strcmp(status, "stopped") ? f.pid : 0));
    json_object_set_new(out, "bundle", json_string((s = json_string_value(json_object_get(st, "bundle"))) ? s : ""));
    json_object_set_new(out, "rootfs", json_string((s = json_string_value(json_object_get(st, "rootfs"))) ? s : ""));
    json_object_set_new(out, "created", json_string((s = json_string_value(json_object_get(st, "created"))) ? s : ""));
    json_object_set_new(out, "owner", json_string(""));
    if (json_is_object(ann) && json_object_size(ann))
        json_object_set(out, "annotations", ann);
    /* the same text as Python's json.dumps(indent=2): ASCII only, keys in this order */
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(out);
    json_decref(st);
    if (!text)
        return RT_FALLBACK;
    puts(text);
    free(text);
    return 0;
}

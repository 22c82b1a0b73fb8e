/*
 * status.c -- the status table's strings and the one-line error formatter.
 */
#include <stdio.h>

#include "statechannel/patch.h"

static const char *const status_messages[] = {
#define SC_PATCH_STATUS_STR_(name, msg) msg,
    SC_PATCH_STATUS_MAP(SC_PATCH_STATUS_STR_)
#undef SC_PATCH_STATUS_STR_
};

const char *sc_patch_strerror(sc_patch_status status)
{
    if ((unsigned)status >= (unsigned)SC_PATCH_STATUS_COUNT_)
        return "unknown status";
    return status_messages[status];
}

char *sc_patch_error_format(const sc_patch_error *err, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (err == NULL) {
        buf[0] = '\0';
        return buf;
    }
    const char *what = sc_patch_strerror(err->status);
    if (err->op_index >= 0)
        snprintf(buf, cap, "op %ld (%s %s): %s%s%s", err->op_index, err->op, err->path, what,
                 err->reason[0] ? ": " : "", err->reason);
    else if (err->path[0])
        snprintf(buf, cap, "%s: %s%s%s", err->path, what, err->reason[0] ? ": " : "", err->reason);
    else
        snprintf(buf, cap, "%s%s%s", what, err->reason[0] ? ": " : "", err->reason);
    return buf;
}

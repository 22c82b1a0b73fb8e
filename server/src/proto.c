/*
 * proto.c -- see proto.h. Every pass is O(len) with O(1) extra memory besides cJSON's tree.
 */
#include "proto.h"

#include <string.h>

#include "util.h"

int json_depth(const char *s, size_t len, int limit)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Skips one value starting at i (no recursion: brackets are counted). Returns the index past
 * it, or len when the input ends first. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    int depth = 0, in_str = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"') {
                in_str = 0;
                if (depth == 0)
                    return i + 1;
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return i; /* end of the enclosing array: a scalar just ended */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return i;
        }
    }
    return len;
}

/* Is span a complete JSON string token? cJSON checks the escapes but lets raw control
 * characters (NUL included) through, so they are refused here: these tokens are echoed into
 * replies byte for byte (and the join_ref kept as a C string), where a raw control character
 * is invalid JSON and a NUL would cut the token short (found by tests/fuzz/fuzz_server). */
static int span_is_string(sc_span sp)
{
    if (sp.n < 2 || sp.p[0] != '"' || sp.p[sp.n - 1] != '"')
        return 0;
    for (size_t i = 0; i < sp.n; i++)
        if ((unsigned char)sp.p[i] < 0x20)
            return 0;
    cJSON *v = cJSON_ParseWithLength(sp.p, sp.n);
    int ok = cJSON_IsString(v);
    cJSON_Delete(v);
    return ok;
}

static int span_is_null(sc_span sp) { return sp.n == 4 && memcmp(sp.p, "null", 4) == 0; }

/* Reads the raw tokens of the first three elements, as far as they go. */
static void scan_head(const char *s, size_t len, sc_msg *m)
{
    size_t i = skip_ws(s, len, 0);
    if (i >= len || s[i] != '[')
        return;
    i++;
    sc_span spans[3] = {{0}};
    for (int k = 0; k < 3; k++) {
        i = skip_ws(s, len, i);
        if (i >= len || s[i] == ']')
            break;
        size_t end = skip_value(s, len, i);
        spans[k].p = s + i;
        spans[k].n = end - i;
        i = skip_ws(s, len, end);
        if (i >= len || s[i] != ',')
            break;
        i++;
    }
    if (span_is_string(spans[0])) {
        m->jr = spans[0];
        m->jr_is_str = 1;
    } else if (span_is_null(spans[0])) {
        m->jr = spans[0];
    }
    if (span_is_string(spans[1])) {
        m->ref = spans[1];
        m->ref_is_str = 1;
    } else if (span_is_null(spans[1])) {
        m->ref = spans[1];
    }
    if (span_is_string(spans[2]))
        m->topic_raw = spans[2];
}

sc_msg_status msg_decode(const char *data, size_t len, int max_depth, sc_msg *m)
{
    memset(m, 0, sizeof *m);
    if (!sc_utf8_valid(data, len))
        return SC_MSG_BAD_UTF8;
    scan_head(data, len, m);
    if (json_depth(data, len, max_depth) > max_depth)
        return SC_MSG_TOO_DEEP;
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (root == NULL)
        return SC_MSG_INVALID;
    m->root = root;
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) < 5)
        return SC_MSG_INVALID;
    const cJSON *jr = cJSON_GetArrayItem(root, 0), *ref = cJSON_GetArrayItem(root, 1);
    const cJSON *topic = cJSON_GetArrayItem(root, 2), *event = cJSON_GetArrayItem(root, 3);
    if (!(cJSON_IsString(jr) || cJSON_IsNull(jr)) || !(cJSON_IsString(ref) || cJSON_IsNull(ref)) ||
        !cJSON_IsString(topic) || !cJSON_IsString(event))
        return SC_MSG_INVALID;
    /* The head scan saw the same tokens cJSON accepted. */
    if (m->jr.n == 0 || m->ref.n == 0 || m->topic_raw.n == 0)
        return SC_MSG_INVALID;
    m->topic = topic->valuestring;
    m->event = event->valuestring;
    m->payload = cJSON_GetArrayItem(root, 4);
    return SC_MSG_OK;
}

void msg_free(sc_msg *m)
{
    cJSON_Delete(m->root);
    m->root = NULL;
}

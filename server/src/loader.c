/*
 * loader.c -- loads every *.so of the --handlers directory as a handler plugin.
 *
 * For each file (in name order, so errors are reproducible): dlopen(RTLD_NOW | RTLD_LOCAL)
 * (unresolved symbols fail now, not at the first event; plugins cannot see each other),
 * dlsym(SC_HANDLER_SYMBOL), then checks: abi_version == SC_HANDLER_ABI_VERSION, struct_size
 * at least the v1 descriptor and at most ours (fields past a smaller struct_size read as
 * NULL/0), name [a-z0-9_-]+, pattern "prefix:*" or an exact topic, no duplicate name or
 * pattern, valid scope and dialect. Then init runs; a failing init unloads that plugin. Any
 * rejection stops the server from starting, with one message naming the file.
 */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* Size of the version-1 descriptor: everything up to and including .leave. */
#define SC_HANDLER_V1_SIZE (offsetof(sc_handler, leave) + sizeof(((sc_handler *)0)->leave))
/* Plugins in one directory: a sanity bound on a misconfigured directory. */
#define SC_MAX_PLUGINS 256

static int name_ok(const char *n)
{
    if (n == NULL || n[0] == '\0' || strlen(n) > 64)
        return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void plugin_free(sc_plugin *p)
{
    if (p == NULL)
        return;
    if (p->dl != NULL)
        dlclose(p->dl);
    free(p->file);
    free(p);
}

static int check_and_add(sc_server *s, const char *path, char *err, size_t errcap)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        snprintf(err, errcap, "%s: cannot load: %s", path, dlerror());
        return -1;
    }
    const sc_handler *h = dlsym(dl, SC_HANDLER_SYMBOL);
    if (h == NULL) {
        snprintf(err, errcap, "%s: no symbol %s (is it a Statechannel handler?)", path,
                 SC_HANDLER_SYMBOL);
        dlclose(dl);
        return -1;
    }
    const char *why = NULL;
    char buf[1024];
    if (h->abi_version != SC_HANDLER_ABI_VERSION) {
        snprintf(buf, sizeof buf, "built for handler ABI %u, this server speaks %u",
                 h->abi_version, SC_HANDLER_ABI_VERSION);
        why = buf;
    } else if (h->struct_size < SC_HANDLER_V1_SIZE) {
        snprintf(buf, sizeof buf, "descriptor struct_size %u is smaller than version 1 (%zu)",
                 h->struct_size, (size_t)SC_HANDLER_V1_SIZE);
        why = buf;
    } else if (h->struct_size > sizeof(sc_handler)) {
        snprintf(buf, sizeof buf,
                 "descriptor struct_size %u is larger than this server's (%zu): built against a "
                 "newer handler.h", h->struct_size, sizeof(sc_handler));
        why = buf;
    } else if (!name_ok(h->name)) {
        why = "missing or invalid name (want [a-z0-9_-]+)";
    } else if (h->pattern == NULL || h->pattern[0] == '\0' || strlen(h->pattern) > SC_MAX_TOPIC_LEN) {
        why = "missing pattern";
    } else if (strchr(h->pattern, '*') != NULL &&
               (strlen(h->pattern) < 2 || strcmp(h->pattern + strlen(h->pattern) - 1, "*") != 0 ||
                strchr(h->pattern, '*') != h->pattern + strlen(h->pattern) - 1)) {
        why = "pattern must be \"prefix*\" (usually \"name:*\") or an exact topic";
    } else if ((unsigned)h->scope > SC_SCOPE_CONNECTION) {
        why = "invalid scope";
    } else if ((unsigned)h->dialect > SC_DIALECT_STATECHANNEL) {
        why = "invalid dialect";
    }
    if (why == NULL) {
        for (size_t i = 0; i < s->n_plugins; i++) {
            if (strcmp(s->plugins[i]->h.name, h->name) == 0) {
                snprintf(buf, sizeof buf, "duplicate name \"%s\" (also in %s)", h->name,
                         s->plugins[i]->file);
                why = buf;
                break;
            }
            if (strcmp(s->plugins[i]->h.pattern, h->pattern) == 0) {
                snprintf(buf, sizeof buf, "duplicate pattern \"%s\" (also in %s)", h->pattern,
                         s->plugins[i]->file);
                why = buf;
                break;
            }
        }
    }
    if (why != NULL) {
        snprintf(err, errcap, "%s: rejected: %s", path, why);
        dlclose(dl);
        return -1;
    }
    sc_plugin *p = calloc(1, sizeof *p);
    sc_plugin **grown = realloc(s->plugins, (s->n_plugins + 1) * sizeof *grown);
    if (p == NULL || grown == NULL || (p->file = strdup(path)) == NULL) {
        if (grown != NULL)
            s->plugins = grown;
        free(p);
        dlclose(dl);
        snprintf(err, errcap, "%s: out of memory", path);
        return -1;
    }
    s->plugins = grown;
    memcpy(&p->h, h, h->struct_size); /* fields the plugin does not know stay zero */
    p->dl = dl;
    p->srv = s;
    p->mod.plugin = p;
    const char *star = strchr(p->h.pattern, '*');
    p->wildcard = star != NULL;
    p->prefix_len = star ? (size_t)(star - p->h.pattern) : 0;
    s->plugins[s->n_plugins++] = p;
    return 0;
}

int plugins_load(sc_server *s, const char *dir, char *err, size_t errcap)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errcap, "%s: cannot open the handlers directory", dir);
        return -1;
    }
    char *names[SC_MAX_PLUGINS];
    size_t n = 0;
    struct dirent *e;
    int too_many = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 || e->d_name[0] == '.')
            continue;
        if (n == SC_MAX_PLUGINS) {
            too_many = 1;
            break;
        }
        names[n] = malloc(strlen(dir) + len + 2);
        if (names[n] == NULL)
            break;
        sprintf(names[n], "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    int rc = 0;
    if (too_many) {
        snprintf(err, errcap, "%s: more than %d plugins", dir, SC_MAX_PLUGINS);
        rc = -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = check_and_add(s, names[i], err, errcap);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    if (rc != 0)
        return -1;

    /* init, in load order; a failure unloads that plugin and refuses to start. */
    for (size_t i = 0; i < s->n_plugins; i++) {
        sc_plugin *p = s->plugins[i];
        if (p->h.init == NULL) {
            p->initialized = 1;
            continue;
        }
        if (p->h.init(&p->mod) != SC_OK) {
            snprintf(err, errcap, "%s: init of handler \"%s\" failed: %s", p->file, p->h.name,
                     p->mod.fail_msg[0] ? p->mod.fail_msg : "(no reason given)");
            /* Unload it now; the ones before it get their fini at sc_server_free(). */
            memmove(&s->plugins[i], &s->plugins[i + 1], (s->n_plugins - i - 1) * sizeof *s->plugins);
            s->n_plugins--;
            plugin_free(p);
            return -1;
        }
        p->initialized = 1;
        sc_logf("info", "loaded handler %s (%s, %s scope) from %s", p->h.name, p->h.pattern,
                p->h.scope == SC_SCOPE_TOPIC ? "topic" : "connection", p->file);
    }
    return 0;
}

void plugins_unload(sc_server *s)
{
    for (size_t i = s->n_plugins; i-- > 0;) {
        sc_plugin *p = s->plugins[i];
        if (p->initialized && p->h.fini != NULL)
            p->h.fini(&p->mod);
        plugin_free(p);
    }
    free(s->plugins);
    s->plugins = NULL;
    s->n_plugins = 0;
}

/*
 * inst.c -- states ("instances"): the registry, publishing, full-state frames.
 *
 * Publishing a change (inst_publish) diffs the shadow (the state as clients last saw it)
 * against the live tree once (or takes the operations the handler emitted), serializes the
 * patch, then moves its values into the shadow (an sc_doc: sc_doc_apply_take, whose kept
 * indexes make that O(patch) however large the state's arrays and objects; no copy of the
 * state or of the values; what they replace waits in the shadow's graveyard until its next
 * apply), builds one frame per dialect, and queues a reference to that same frame on every
 * subscriber: O(state) for the diff walk, O(patch) for everything else, O(subscribers) pointer
 * pushes. The live tree is an sc_doc as well (live_doc), so emitted operations land in O(1)
 * per pointer token while the handler only reads the state (sc_state_read); sc_state() lends
 * the tree out for in-place changes (sc_doc_edit: the indexes are rebuilt lazily). A refused
 * callback restores the live tree from the shadow (one O(state) copy, only on failure). The
 * last SC_PATCH_RING patch frames are kept for resume and catch-up.
 *
 * Persistence: a persisted instance (store_key set) adds each published version to the
 * publisher's store batch: the patch text already serialized for the frames (O(patch)), or a
 * snapshot when the state is new, replaced or was just restored (O(state), rare). A resume
 * (inst_catch_up) sends the versions a client missed from the ring, else from the store's
 * log, when they add up to less than the full state.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "statechannel/patch.h"

static size_t topic_hash(const char *t)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ULL;
    return (size_t)(h % SC_REG_BUCKETS);
}

sc_plugin *sc_plugin_match(sc_server *s, const char *topic)
{
    for (size_t i = 0; i < s->n_plugins; i++) {
        sc_plugin *p = s->plugins[i];
        if (p->wildcard ? strncmp(topic, p->h.pattern, p->prefix_len) == 0
                        : strcmp(topic, p->h.pattern) == 0)
            return p;
    }
    return NULL;
}

static sc_inst *inst_alloc(sc_server *s, sc_plugin *pl, const char *topic, sc_scope scope)
{
    sc_inst *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->topic = strdup(topic);
    cJSON *live = cJSON_CreateObject();
    in->live_doc = live != NULL ? sc_doc_new(live, NULL) : NULL;
    if (in->topic == NULL || in->live_doc == NULL) {
        free(in->topic);
        sc_doc_free(in->live_doc);
        if (in->live_doc == NULL)
            cJSON_Delete(live);
        free(in);
        return NULL;
    }
    in->live = live;
    const char *colon = strchr(in->topic, ':');
    in->topic_id = colon ? colon + 1 : in->topic + strlen(in->topic);
    in->srv = s;
    in->pl = pl;
    in->scope = scope;
    pthread_mutex_init(&in->mu, NULL);
    atomic_init(&in->refs, 2); /* the registry's and the caller's */
    return in;
}

static void reg_insert(sc_server *s, sc_inst *in)
{
    if (in->scope == SC_SCOPE_TOPIC)
        s->n_topic_states++;
    size_t b = topic_hash(in->topic);
    in->hnext = s->buckets[b];
    s->buckets[b] = in;
}

sc_inst *inst_find_shared(sc_server *s, const char *topic)
{
    pthread_mutex_lock(&s->reg_mu);
    sc_inst *found = NULL;
    for (sc_inst *in = s->buckets[topic_hash(topic)]; in != NULL; in = in->hnext) {
        if (in->scope == SC_SCOPE_TOPIC && strcmp(in->topic, topic) == 0) {
            found = in;
            inst_ref(in);
            break;
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    return found;
}

sc_inst *inst_get_shared(sc_server *s, sc_plugin *pl, const char *topic, int *full)
{
    *full = 0;
    pthread_mutex_lock(&s->reg_mu);
    for (sc_inst *in = s->buckets[topic_hash(topic)]; in != NULL; in = in->hnext) {
        if (in->scope == SC_SCOPE_TOPIC && strcmp(in->topic, topic) == 0) {
            inst_ref(in);
            pthread_mutex_unlock(&s->reg_mu);
            return in;
        }
    }
    /* Topic states live until shutdown: without a cap, joins of made-up topics would grow
     * memory without bound. */
    if (s->n_topic_states >= (size_t)s->cfg.max_states) {
        pthread_mutex_unlock(&s->reg_mu);
        *full = 1;
        return NULL;
    }
    sc_inst *in = inst_alloc(s, pl, topic, SC_SCOPE_TOPIC);
    if (in != NULL)
        reg_insert(s, in);
    pthread_mutex_unlock(&s->reg_mu);
    return in;
}

sc_inst *inst_new_private(sc_server *s, sc_plugin *pl, const char *topic)
{
    sc_inst *in = inst_alloc(s, pl, topic, SC_SCOPE_CONNECTION);
    if (in == NULL)
        return NULL;
    pthread_mutex_lock(&s->reg_mu);
    reg_insert(s, in);
    pthread_mutex_unlock(&s->reg_mu);
    return in;
}

void inst_ref(sc_inst *in) { atomic_fetch_add(&in->refs, 1); }

void inst_unref(sc_inst *in)
{
    if (in == NULL || atomic_fetch_sub(&in->refs, 1) != 1)
        return;
    if (in->ud_free != NULL)
        in->ud_free(in->ud);
    sc_doc_free(in->live_doc);
    sc_doc_free(in->shadow);
    for (int i = 0; i < SC_PATCH_RING; i++)
        frame_unref(in->ring[i]);
    free(in->state_json);
    free(in->store_key);
    free(in->subs);
    free(in->topic);
    pthread_mutex_destroy(&in->mu);
    free(in);
}

void inst_kill(sc_inst *in)
{
    if (in->dead)
        return;
    in->dead = 1;
    sc_server *s = in->srv;
    int unlinked = 0;
    pthread_mutex_lock(&s->reg_mu);
    for (sc_inst **pp = &s->buckets[topic_hash(in->topic)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == in) {
            *pp = in->hnext;
            unlinked = 1;
            if (in->scope == SC_SCOPE_TOPIC)
                s->n_topic_states--;
            break;
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    timers_cancel_inst(in);
    /* The registry's reference; the caller still holds one, so this never frees. */
    if (unlinked)
        atomic_fetch_sub(&in->refs, 1);
}

sc_inst **inst_all_of_topic(sc_server *s, const char *topic, size_t *n)
{
    *n = 0;
    size_t cap = 0;
    sc_inst **out = NULL;
    pthread_mutex_lock(&s->reg_mu);
    for (sc_inst *in = s->buckets[topic_hash(topic)]; in != NULL; in = in->hnext) {
        if (strcmp(in->topic, topic) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            sc_inst **g = realloc(out, cap * sizeof *g);
            if (g == NULL)
                break;
            out = g;
        }
        inst_ref(in);
        out[(*n)++] = in;
    }
    pthread_mutex_unlock(&s->reg_mu);
    return out;
}

void inst_destroy_all(sc_server *s)
{
    for (;;) {
        sc_inst *in = NULL;
        pthread_mutex_lock(&s->reg_mu);
        for (size_t b = 0; b < SC_REG_BUCKETS && in == NULL; b++) {
            if (s->buckets[b] != NULL) {
                in = s->buckets[b];
                inst_ref(in);
            }
        }
        pthread_mutex_unlock(&s->reg_mu);
        if (in == NULL)
            return;
        pthread_mutex_lock(&in->mu);
        inst_kill(in);
        pthread_mutex_unlock(&in->mu);
        inst_unref(in);
    }
}

void inst_subscribe(sc_inst *in, sc_chan *ch)
{
    if (in->n_subs == in->cap_subs) {
        size_t cap = in->cap_subs ? in->cap_subs * 2 : 4;
        sc_chan **g = realloc(in->subs, cap * sizeof *g);
        if (g == NULL)
            return; /* the channel then simply gets no patches; its join reply still went */
        in->subs = g;
        in->cap_subs = cap;
    }
    in->subs[in->n_subs++] = ch;
    ch->subscribed = 1;
}

void inst_unsubscribe(sc_inst *in, sc_chan *ch)
{
    for (size_t i = 0; i < in->n_subs; i++) {
        if (in->subs[i] == ch) {
            in->subs[i] = in->subs[--in->n_subs];
            break;
        }
    }
    ch->subscribed = 0;
}

int inst_set_live(sc_inst *in, cJSON *root)
{
    /* Indexes the new tree's large containers in one walk: O(state), like building it. */
    sc_doc *doc = root != NULL ? sc_doc_new(root, NULL) : NULL;
    if (doc == NULL) {
        cJSON_Delete(root);
        return -1;
    }
    sc_doc_free(in->live_doc);
    in->live_doc = doc;
    in->live = root;
    return 0;
}

void inst_restore(sc_inst *in)
{
    cJSON *copy =
        in->shadow ? cJSON_Duplicate(sc_doc_root(in->shadow), 1) : cJSON_CreateObject();
    if (inst_set_live(in, copy) != 0)
        sc_logf("error", "topic %s: out of memory restoring the state", in->topic);
}

static const char *state_event(sc_dialect d) { return d == SC_DIALECT_STATECHANNEL ? "set_state" : "state:change"; }

/* The cached serialization of the shadow at the current version; -1 when out of memory. */
static int state_json(sc_inst *in)
{
    if (in->state_json == NULL || in->state_json_ver != in->version) {
        sbuf b = {0};
        sbuf_put_json(&b, in->shadow ? sc_doc_root(in->shadow) : in->live);
        if (b.oom) {
            sbuf_free(&b);
            return -1;
        }
        free(in->state_json);
        in->state_json = b.data;
        in->state_json_len = b.len;
        in->state_json_ver = in->version;
    }
    return 0;
}

sc_frame *inst_state_frame(sc_inst *in, sc_chan *ch)
{
    if (state_json(in) != 0)
        return NULL;
    sbuf p = {0};
    sbuf_reserve(&p, in->state_json_len + 48);
    sbuf_puts(&p, "{\"state\":");
    sbuf_put(&p, in->state_json, in->state_json_len);
    sbuf_puts(&p, ",\"version\":");
    sbuf_put_u64(&p, in->version);
    sbuf_puts(&p, "}");
    sc_frame *f = p.oom ? NULL
                        : msg_frame(ch->jr, strlen(ch->jr), "null", 4, in->topic,
                                    state_event(ch->dialect), p.data, p.len);
    sbuf_free(&p);
    if (f != NULL)
        atomic_fetch_add(&in->srv->m.full_states_sent, 1);
    return f;
}

/* Pushes queued by sc_push / sc_push_all. */
static void send_pushes(sc_inst *in, sc_ctx *ctx)
{
    const cJSON *p;
    if (ctx->pushes != NULL && ctx->chan != NULL) {
        cJSON_ArrayForEach(p, ctx->pushes)
        {
            sc_frame *f = msg_frame_json(ctx->chan->jr, in->topic, p->child->valuestring,
                                         p->child->next);
            if (f != NULL) {
                chan_send(ctx->chan, f, 0);
                frame_unref(f);
            }
        }
    }
    if (ctx->pushes_all != NULL) {
        cJSON_ArrayForEach(p, ctx->pushes_all)
        {
            sc_frame *shared = NULL;
            for (size_t i = 0; i < in->n_subs; i++) {
                sc_chan *ch = in->subs[i];
                sc_frame *f;
                if (in->scope == SC_SCOPE_TOPIC) {
                    if (shared == NULL)
                        shared = msg_frame_json("null", in->topic, p->child->valuestring,
                                                p->child->next);
                    f = shared ? frame_ref(shared) : NULL;
                } else {
                    f = msg_frame_json(ch->jr, in->topic, p->child->valuestring, p->child->next);
                }
                if (f != NULL) {
                    chan_send(ch, f, 0);
                    frame_unref(f);
                }
            }
            frame_unref(shared);
        }
    }
}

static sc_frame *patch_frame_at(sc_inst *in, const char *jr, sc_dialect d, const char *patch,
                                size_t patch_len, uint64_t version)
{
    sbuf p = {0};
    sbuf_reserve(&p, patch_len + 48);
    sbuf_puts(&p, d == SC_DIALECT_STATECHANNEL ? "{\"diff\":" : "{\"patch\":");
    sbuf_put(&p, patch, patch_len);
    sbuf_puts(&p, ",\"version\":");
    sbuf_put_u64(&p, version);
    sbuf_puts(&p, "}");
    sc_frame *f = p.oom ? NULL
                        : msg_frame(jr, strlen(jr), "null", 4, in->topic,
                                    d == SC_DIALECT_STATECHANNEL ? "state_diff" : "state:patch",
                                    p.data, p.len);
    sbuf_free(&p);
    return f;
}

static sc_frame *patch_frame(sc_inst *in, const char *jr, sc_dialect d, const sbuf *patch)
{
    return patch_frame_at(in, jr, d, patch->data, patch->len, in->version);
}

/* Adds the version just published to the store: the patch (pj), or a snapshot when pj is
 * NULL or the store does not hold the state yet. Submits it unless the caller collects the
 * batch (ctx->batch). */
static void persist(sc_inst *in, sc_ctx *ctx, const sbuf *pj)
{
    sc_server *s = in->srv;
    if (in->store_key == NULL || s->cfg.store == NULL)
        return;
    sc_store_batch *b = ctx->batch != NULL ? ctx->batch : sc_store_batch_new();
    if (b == NULL) {
        in->stored = 0; /* the next version goes as a snapshot, which may skip versions */
        return;
    }
    /* An item that cannot be added (out of memory) leaves a hole the store would refuse:
     * the next version then goes as a snapshot, which may skip versions. */
    if (pj != NULL && in->stored) {
        if (sc_store_batch_patch(b, in->store_key, in->version, pj->data, pj->len) != SC_STORE_OK)
            in->stored = 0;
    } else {
        in->stored = state_json(in) == 0 &&
                     sc_store_batch_snapshot(b, in->store_key, in->topic, in->owner, in->version,
                                             in->state_json, in->state_json_len) == SC_STORE_OK;
    }
    if (ctx->batch == NULL)
        store_submit(s, b, NULL, NULL);
}

int inst_publish(sc_inst *in, sc_ctx *ctx)
{
    sc_server *s = in->srv;
    send_pushes(in, ctx);

    cJSON *patch = NULL; /* the operations published: the handler's or the diff's (owned) */
    sbuf pj = {0};       /* patch serialized: the frames' and the store's bytes */
    int full = 0;
    if (in->shadow == NULL) {
        full = 1;
    } else if (in->restored) {
        /* The first change since a restart: a full state past every version a client may
         * hold from before (SC_RESTART_VERSION_GAP); unchanged, nothing is published. */
        sc_patch_error err;
        cJSON *d = NULL;
        if (sc_diff(sc_doc_root(in->shadow), in->live, NULL, &d, &err) == SC_PATCH_OK &&
            cJSON_GetArraySize(d) == 0 && (ctx->emitted == NULL ||
                                           cJSON_GetArraySize(ctx->emitted) == 0)) {
            cJSON_Delete(d);
            return 0;
        }
        cJSON_Delete(d);
        in->restored = 0;
        in->version += SC_RESTART_VERSION_GAP - 1;
        full = 1;
    } else {
        int emitted = ctx->emitted != NULL && !ctx->replaced;
        if (emitted) {
            /* Explicit ops: already applied to live by sc_emit_patch; trust them, no diff. */
            patch = ctx->emitted;
            ctx->emitted = NULL;
        } else {
            sc_patch_error err;
            double t0 = sc_clock_sec();
            sc_patch_status st = sc_diff(sc_doc_root(in->shadow), in->live, NULL, &patch, &err);
            metrics_diff(&s->m, sc_clock_sec() - t0);
            if (st == SC_PATCH_EROOT) {
                full = 1;
            } else if (st != SC_PATCH_OK) {
                sc_logf("error", "topic %s: diff failed (%s); sending the full state",
                        in->topic, sc_patch_strerror(st));
                full = 1;
            }
        }
        if (!full && patch->child == NULL) {
            cJSON_Delete(patch);
            return 0;
        }
        if (!full) {
            /* Serialized first: the shadow then takes the patch's values instead of copying
             * them (the patch is not needed afterwards), and parks what they replace in its
             * graveyard, freed at its next apply (patch.h "Deferred frees"). */
            sc_patch_error err;
            sbuf_put_json(&pj, patch);
            if (pj.oom) {
                sc_logf("error", "topic %s: out of memory serializing a patch; sending the "
                        "full state", in->topic);
                full = 1;
            } else if (sc_doc_apply_take(in->shadow, patch, &err) != SC_PATCH_OK) {
                char line[512];
                sc_logf("error", "topic %s: %s does not apply to the published state (%s); "
                        "sending the full state", in->topic,
                        emitted ? "emitted patch" : "diff",
                        sc_patch_error_format(&err, line, sizeof line));
                full = 1;
            }
        }
    }
    cJSON_Delete(patch); /* what is left of it: the operations without their values */
    if (full) {
        sbuf_free(&pj);
        cJSON *copy = cJSON_Duplicate(in->live, 1);
        sc_doc *shadow = copy != NULL ? sc_doc_new(copy, NULL) : NULL; /* indexes it: O(state) */
        if (shadow == NULL) {
            cJSON_Delete(copy);
            sc_logf("error", "topic %s: out of memory publishing", in->topic);
            return 0;
        }
        sc_doc_free(in->shadow);
        in->shadow = shadow;
    }
    in->version++;
    atomic_fetch_add(&s->m.patches_published, 1);

    if (full) {
        persist(in, ctx, NULL);
        for (size_t i = 0; i < in->n_subs; i++) {
            sc_frame *f = inst_state_frame(in, in->subs[i]);
            if (f != NULL) {
                chan_send(in->subs[i], f, in->subs[i]->id);
                frame_unref(f);
            }
        }
        return 1;
    }

    persist(in, ctx, &pj);
    sc_frame *shared[2] = {NULL, NULL}; /* per dialect, join_ref null (per-topic states) */
    for (size_t i = 0; i < in->n_subs; i++) {
        sc_chan *ch = in->subs[i];
        sc_frame *f;
        if (in->scope == SC_SCOPE_TOPIC) {
            if (shared[ch->dialect] == NULL)
                shared[ch->dialect] = patch_frame(in, "null", ch->dialect, &pj);
            f = shared[ch->dialect] ? frame_ref(shared[ch->dialect]) : NULL;
        } else {
            f = patch_frame(in, ch->jr, ch->dialect, &pj);
        }
        if (f != NULL) {
            chan_send(ch, f, ch->id);
            atomic_fetch_add(&s->m.patch_frames_sent, 1);
            frame_unref(f);
        }
    }
    {
        /* Kept for resumes, join_ref null, so any channel of the state can be sent it. */
        if (in->scope != SC_SCOPE_TOPIC || shared[SC_DIALECT_LIVESTATE] == NULL) {
            frame_unref(shared[SC_DIALECT_LIVESTATE]);
            shared[SC_DIALECT_LIVESTATE] = patch_frame(in, "null", SC_DIALECT_LIVESTATE, &pj);
        }
        size_t slot = in->version % SC_PATCH_RING;
        frame_unref(in->ring[slot]);
        in->ring[slot] = shared[SC_DIALECT_LIVESTATE];
        in->ring_ver[slot] = in->version;
        shared[SC_DIALECT_LIVESTATE] = NULL;
    }
    frame_unref(shared[0]);
    frame_unref(shared[1]);
    sbuf_free(&pj);
    return 1;
}

/* ---- persistence: load, key, resume --------------------------------------------------------- */

static int on_loaded(void *user, const sc_store_state_rec *rec)
{
    sc_inst *in = user;
    cJSON *live = cJSON_ParseWithLength(rec->json, rec->json_len);
    cJSON *copy = live ? cJSON_Duplicate(live, 1) : NULL;
    sc_doc *shadow = copy ? sc_doc_new(copy, NULL) : NULL;
    if (shadow == NULL) {
        cJSON_Delete(copy);
        cJSON_Delete(live);
        return 1;
    }
    if (inst_set_live(in, live) != 0) {
        sc_doc_free(shadow);
        return 1;
    }
    sc_doc_free(in->shadow);
    in->shadow = shadow;
    in->version = rec->version;
    return 0;
}

int inst_load(sc_inst *in, const char *key)
{
    sc_store_error e;
    in->load_tried = 1;
    sc_store_status st = sc_store_load_state(in->srv->cfg.store, key, on_loaded, in, &e);
    if (st == SC_STORE_ENOTFOUND)
        return 0;
    if (st != SC_STORE_OK) {
        sc_logf("error", "store: loading %s: %s", key,
                st == SC_STORE_ESTOPPED ? "out of memory or unreadable JSON" : e.message);
        return -1;
    }
    in->stored = 1;
    in->restored = in->version > 0;
    return 1;
}

int inst_load_topic(sc_inst *in)
{
    if (in->srv->cfg.store == NULL || in->store_key != NULL || in->dead)
        return 0;
    size_t n = strlen(in->topic) + 3;
    char *key = malloc(n);
    if (key == NULL)
        return -1;
    snprintf(key, n, "t:%s", in->topic);
    int loaded = inst_set_store_key(in, key, 0) == 0 ? inst_load(in, key) : -1;
    free(key);
    if (loaded < 0) {
        free(in->store_key);
        in->store_key = NULL;
        return -1;
    }
    if (loaded == 1)
        in->created = 1;
    return loaded;
}

int inst_set_store_key(sc_inst *in, const char *key, int per_connection)
{
    if (in->store_key != NULL)
        return 0;
    in->store_key = strdup(key);
    if (in->store_key == NULL)
        return -1;
    in->owner = per_connection ? in->store_key + 2 : NULL; /* "c:<session id>" */
    return 0;
}

/* Queues the patch frames since+1 .. the current version on ch from the ring (all of them
 * must be there) or, for the older ones, from the store's log. */
int inst_catch_up(sc_inst *in, sc_chan *ch, uint64_t since)
{
    if (since == in->version)
        return 1;
    if (since > in->version || ch->dialect != SC_DIALECT_LIVESTATE || state_json(in) != 0)
        return 0;
    size_t limit = in->state_json_len; /* PROTOCOL.md 4: patches only when smaller */
    /* The oldest version from which the ring holds every later one. */
    uint64_t first = in->version + 1, ring_bytes = 0;
    while (first - 1 > since && in->version - (first - 1) < SC_PATCH_RING) {
        size_t slot = (first - 1) % SC_PATCH_RING;
        if (in->ring[slot] == NULL || in->ring_ver[slot] != first - 1)
            break;
        ring_bytes += frame_payload_len(in->ring[slot]);
        first--;
    }
    if (ring_bytes >= limit)
        return 0;
    sc_store_log *log = NULL;
    if (first > since + 1) {
        if (in->store_key == NULL || in->srv->cfg.store == NULL)
            return 0;
        sc_store_error e;
        sc_store_status st = sc_store_read_log(in->srv->cfg.store, in->store_key, since,
                                               limit - ring_bytes, &log, &e);
        if (st != SC_STORE_OK || log->version + 1 < first) {
            sc_store_log_free(log);
            return 0; /* trimmed, too big, or not committed yet and gone from the ring */
        }
    }
    size_t n_store = 0;
    if (log != NULL) {
        for (size_t i = 0; i < log->n && log->frames[i].version < first; i++) {
            const sc_store_frame *fr = &log->frames[i];
            sc_frame *f = patch_frame_at(in, "null", SC_DIALECT_LIVESTATE, fr->patch, fr->len,
                                         fr->version);
            if (f == NULL) {
                sc_store_log_free(log);
                return 0; /* the full state that follows supersedes what was queued */
            }
            chan_send(ch, f, ch->id);
            frame_unref(f);
            n_store++;
        }
        sc_store_log_free(log);
    }
    for (uint64_t v = first; v <= in->version; v++)
        chan_send(ch, in->ring[v % SC_PATCH_RING], ch->id);
    atomic_fetch_add(&in->srv->m.patch_frames_sent, n_store + (in->version + 1 - first));
    return 1;
}

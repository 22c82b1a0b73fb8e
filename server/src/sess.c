/*
 * sess.c -- sessions (PROTOCOL.md section 4) and the server's side of the store.
 *
 * Sessions. Every successful join holds a session: a new one, or the one named by the join's
 * `_sc.session` when it is known, not expired and of the same topic. Sessions live in a hash
 * table (id -> session, SC_SESS_BUCKETS chains) under srv->sess_mu, which is authoritative
 * while the process runs: the store is only read for a session that is not in memory (after
 * a restart). A session is "held" while channels are joined with it; a session nobody holds
 * for longer than the TTL is removed by the sweeper thread, from memory and from the store
 * (sc_store_expire), with the per-connection state it owns. Lookups are O(1) expected; a
 * sweep is O(sessions) under sess_mu, every min(TTL / 2, 60 s).
 *
 * The store. Everything a publish or an op changes goes into one batch submitted under the
 * instance's lock (so a state's versions and a session's ops reach the store in order). The
 * completion runs on the store thread after the commit and queues the durable reply, if
 * any, on its connection (held by a reference, so a connection that closed meanwhile is
 * still valid memory; its closed queue drops the frame).
 *
 * Failure policy: a batch that does not commit (disk full, I/O error, a sequence the store
 * refuses) leaves memory ahead of the disk, and the op numbering of its sessions could never
 * be stored again. The process then stops at once (fail-stop, like a database on an fsync
 * error): nothing acknowledged is lost, a restart recovers the last committed state, and the
 * clients replay what was not acknowledged.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The sweeper runs every TTL / 2, at most this far apart (a 24 h TTL: every minute, which
 * also refreshes the store's last-seen time of held sessions well within the TTL) ... */
#define SC_SWEEP_MAX_INTERVAL_MS 60000
/* ... and at least this far apart (tests use TTLs of a second or two). */
#define SC_SWEEP_MIN_INTERVAL_MS 200
/* Exit status of the fail-stop above (sysexits.h EX_IOERR). */
#define SC_EXIT_STORE_FAILED 74

static size_t sess_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: ids are random already */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return (size_t)(h % SC_SESS_BUCKETS);
}

void sess_ref(sc_sess *ss) { atomic_fetch_add(&ss->refs, 1); }

void sess_unref(sc_sess *ss)
{
    if (ss == NULL || atomic_fetch_sub(&ss->refs, 1) != 1)
        return;
    for (int i = 0; i < SC_OUTCOMES_KEPT; i++)
        cJSON_Delete(ss->outcomes[i].response);
    inst_unref(ss->inst);
    free(ss->topic);
    free(ss->state_key);
    free(ss);
}

static sc_sess *sess_alloc(const char *id, const char *topic, sc_scope scope)
{
    sc_sess *ss = calloc(1, sizeof *ss);
    if (ss == NULL)
        return NULL;
    snprintf(ss->id, sizeof ss->id, "%s", id);
    ss->client_id = ss->id + 2 * SC_SESSION_SECRET_BYTES + 1;
    ss->scope = scope;
    ss->topic = strdup(topic);
    size_t n = strlen(topic) + sizeof ss->id + 3;
    ss->state_key = malloc(n);
    if (ss->topic == NULL || ss->state_key == NULL) {
        free(ss->topic);
        free(ss->state_key);
        free(ss);
        return NULL;
    }
    if (scope == SC_SCOPE_CONNECTION)
        snprintf(ss->state_key, n, "c:%s", ss->id);
    else
        snprintf(ss->state_key, n, "t:%s", topic);
    atomic_init(&ss->refs, 1);
    return ss;
}

/* With sess_mu held. */
static sc_sess *table_find(sc_server *s, const char *id)
{
    for (sc_sess *ss = s->sess_buckets[sess_hash(id)]; ss != NULL; ss = ss->hnext)
        if (strcmp(ss->id, id) == 0)
            return ss;
    return NULL;
}

/* With sess_mu held; the table takes the caller's reference. */
static void table_insert(sc_server *s, sc_sess *ss)
{
    size_t b = sess_hash(ss->id);
    ss->hnext = s->sess_buckets[b];
    s->sess_buckets[b] = ss;
    s->n_sess++;
    s->n_kept += ss->keep ? 1 : 0;
}

sc_sess *sess_new(sc_server *s, const char *topic, sc_scope scope, int keep)
{
    char id[SC_SESSION_ID_LEN + 1];
    if (sc_random_hex(id, SC_SESSION_SECRET_BYTES) != 0)
        return NULL;
    id[2 * SC_SESSION_SECRET_BYTES] = '-';
    if (sc_random_hex(id + 2 * SC_SESSION_SECRET_BYTES + 1, SC_CLIENT_ID_BYTES) != 0)
        return NULL;
    sc_sess *ss = sess_alloc(id, topic, scope);
    if (ss == NULL)
        return NULL;
    ss->holders = 1;
    ss->last_seen_ms = sc_wall_ms();
    atomic_store(&ss->refs, 2); /* the table's and the caller's */
    pthread_mutex_lock(&s->sess_mu);
    ss->keep = keep && s->n_kept < (size_t)s->cfg.max_sessions;
    int refused = keep && !ss->keep;
    table_insert(s, ss); /* 128 random bits: a collision is not a case to handle */
    pthread_mutex_unlock(&s->sess_mu);
    if (refused) {
        metrics_refusal(&s->m, "session_not_kept");
        sc_logf("warn", "%d resumable sessions in memory (--max-sessions): a new session on %s "
                "will end with its channel", s->cfg.max_sessions, topic);
    }
    return ss;
}

/* The shape of an id this server issues; anything else is unknown without a lookup (and
 * never becomes a store key). */
static int id_well_formed(const char *id)
{
    if (strlen(id) != SC_SESSION_ID_LEN)
        return 0;
    for (size_t i = 0; i < SC_SESSION_ID_LEN; i++) {
        char c = id[i];
        if (i == 2 * SC_SESSION_SECRET_BYTES ? c != '-'
                                             : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

/* What sc_store_load_session() found. */
typedef struct loaded {
    sc_sess *ss;
    const char *topic;
    sc_scope scope;
    int64_t now, ttl;
    int usable;
} loaded;

static int on_session_rec(void *user, const sc_store_session_rec *rec)
{
    loaded *ld = user;
    if (strcmp(rec->topic, ld->topic) != 0 || rec->last_seen_ms + ld->ttl < ld->now)
        return 0; /* another topic's, or expired (the sweeper deletes it) */
    sc_sess *ss = sess_alloc(rec->id, rec->topic, ld->scope);
    if (ss == NULL)
        return 0;
    if (strcmp(ss->state_key, rec->state_key) != 0) { /* the handler changed scope */
        sess_unref(ss);
        return 0;
    }
    ss->keep = 1;
    ss->last_op = rec->last_op;
    ss->last_seen_ms = rec->last_seen_ms;
    for (size_t i = 0; i < rec->n_outcomes; i++) {
        const sc_store_outcome *o = &rec->outcomes[i];
        sc_outcome *slot = &ss->outcomes[o->op % SC_OUTCOMES_KEPT];
        cJSON_Delete(slot->response);
        slot->op = o->op;
        slot->ok = o->ok;
        slot->response = cJSON_ParseWithLength(o->body, o->body_len);
        if (slot->response == NULL)
            slot->op = 0; /* unreadable: answered "outcome unknown" like an older op */
    }
    ld->ss = ss;
    ld->usable = 1;
    return 0;
}

/* Loads session id from the store (NULL when absent, expired, of another topic or on an
 * error). For a per-connection session its state comes along as a new private instance. */
static sc_sess *load_from_store(sc_server *s, const char *id, const char *topic, sc_scope scope,
                                sc_plugin *pl)
{
    loaded ld = {NULL, topic, scope, sc_wall_ms(), s->cfg.session_ttl_ms, 0};
    sc_store_error e;
    sc_store_status st = sc_store_load_session(s->cfg.store, id, on_session_rec, &ld, &e);
    if (st != SC_STORE_OK) {
        if (st != SC_STORE_ENOTFOUND)
            sc_logf("error", "store: loading session %.8s...: %s", id, e.message);
        sess_unref(ld.ss);
        return NULL;
    }
    if (!ld.usable || ld.ss == NULL)
        return NULL;
    sc_sess *ss = ld.ss;
    if (scope == SC_SCOPE_CONNECTION) {
        sc_inst *in = inst_new_private(s, pl, topic);
        if (in == NULL) {
            sess_unref(ss);
            return NULL;
        }
        pthread_mutex_lock(&in->mu);
        int found = inst_load(in, ss->state_key);
        if (found == 1 && inst_set_store_key(in, ss->state_key, 1) == 0) {
            in->created = 1;
        } else {
            inst_kill(in);
            found = 0;
        }
        pthread_mutex_unlock(&in->mu);
        if (!found) {
            inst_unref(in);
            sess_unref(ss);
            return NULL;
        }
        ss->inst = in; /* inst_new_private's caller reference */
    }
    return ss;
}

sc_sess *sess_resume(sc_server *s, const char *id, const char *topic, sc_scope scope,
                     sc_plugin *pl)
{
    if (!id_well_formed(id))
        return NULL;
    int64_t now = sc_wall_ms();
    pthread_mutex_lock(&s->sess_mu);
    sc_sess *ss = table_find(s, id);
    if (ss != NULL) {
        /* A session that ends with its channel (no `_sc` at its join) is not resumable. */
        int ok = !ss->expired && ss->keep && ss->scope == scope &&
                 strcmp(ss->topic, topic) == 0 &&
                 (ss->holders > 0 || now - ss->last_seen_ms <= s->cfg.session_ttl_ms);
        if (ok) {
            ss->holders++;
            ss->last_seen_ms = now;
            sess_ref(ss);
        }
        pthread_mutex_unlock(&s->sess_mu);
        return ok ? ss : NULL;
    }
    pthread_mutex_unlock(&s->sess_mu);
    if (s->cfg.store == NULL)
        return NULL;

    sc_sess *fresh = load_from_store(s, id, topic, scope, pl);
    if (fresh == NULL)
        return NULL;
    pthread_mutex_lock(&s->sess_mu);
    ss = table_find(s, id);
    if (ss == NULL) { /* the usual case; else a concurrent resume of it loaded it first */
        ss = fresh;
        fresh = NULL;
        atomic_store(&ss->refs, 2);
        table_insert(s, ss);
    } else if (ss->expired || ss->scope != scope || strcmp(ss->topic, topic) != 0) {
        ss = NULL;
    } else {
        sess_ref(ss);
    }
    if (ss != NULL) {
        ss->holders++;
        ss->last_seen_ms = now;
    }
    pthread_mutex_unlock(&s->sess_mu);
    if (fresh != NULL) {
        if (fresh->inst != NULL) {
            pthread_mutex_lock(&fresh->inst->mu);
            inst_kill(fresh->inst);
            pthread_mutex_unlock(&fresh->inst->mu);
        }
        sess_unref(fresh);
    }
    return ss;
}

/* Removes ss from the table if it is there (the table's reference goes). */
static void table_unlink(sc_server *s, sc_sess *ss)
{
    int unlinked = 0;
    pthread_mutex_lock(&s->sess_mu);
    for (sc_sess **pp = &s->sess_buckets[sess_hash(ss->id)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == ss) {
            *pp = ss->hnext;
            ss->expired = 1;
            s->n_sess--;
            s->n_kept -= ss->keep ? 1 : 0;
            unlinked = 1;
            break;
        }
    }
    pthread_mutex_unlock(&s->sess_mu);
    if (unlinked)
        sess_unref(ss); /* the table's; the caller still holds one */
}

static void submit(sc_server *s, sc_store_batch *b, sc_conn *conn, sc_frame *frame, sc_sess *end);

void sess_end(sc_server *s, sc_sess *ss, sc_store_batch *b)
{
    /* Until the store has deleted it, the table keeps it as ended, so that a resume does
     * not find it in the store (which lags memory by a commit) and bring it back. */
    pthread_mutex_lock(&s->sess_mu);
    ss->expired = 1;
    pthread_mutex_unlock(&s->sess_mu);
    if (s->cfg.store == NULL || b == NULL) {
        table_unlink(s, ss);
        sc_store_batch_free(b);
        return;
    }
    sc_store_batch_drop_session(b, ss->id);
    submit(s, b, NULL, NULL, ss);
}

void sess_release(sc_server *s, sc_sess *ss)
{
    pthread_mutex_lock(&s->sess_mu);
    ss->holders--;
    ss->last_seen_ms = sc_wall_ms();
    pthread_mutex_unlock(&s->sess_mu);
}

void sess_touch_item(sc_server *s, sc_store_batch *b, const sc_sess *ss)
{
    (void)s;
    sc_store_batch_session(b, ss->id, ss->topic, ss->state_key, sc_wall_ms());
}

/* Drops what the table holds of ss (already unlinked): its per-connection state dies. */
static void sess_forget(sc_sess *ss)
{
    if (ss->inst != NULL) {
        pthread_mutex_lock(&ss->inst->mu);
        inst_kill(ss->inst);
        pthread_mutex_unlock(&ss->inst->mu);
    }
    sess_unref(ss);
}

/* Unlinks the sessions for which expire(ss) says so; returns them as a list via hnext. */
static sc_sess *table_take(sc_server *s, int64_t now, int all, sc_store_batch *touch)
{
    sc_sess *out = NULL;
    pthread_mutex_lock(&s->sess_mu);
    for (size_t b = 0; b < SC_SESS_BUCKETS; b++) {
        sc_sess **pp = &s->sess_buckets[b];
        while (*pp != NULL) {
            sc_sess *ss = *pp;
            if (!all && ss->holders > 0) {
                ss->last_seen_ms = now;
                if (touch != NULL)
                    sc_store_batch_session(touch, ss->id, ss->topic, ss->state_key, now);
            }
            if (all || (ss->holders == 0 && now - ss->last_seen_ms > s->cfg.session_ttl_ms)) {
                *pp = ss->hnext;
                ss->expired = 1;
                s->n_sess--;
                s->n_kept -= ss->keep ? 1 : 0;
                ss->hnext = out;
                out = ss;
                continue;
            }
            pp = &ss->hnext;
        }
    }
    pthread_mutex_unlock(&s->sess_mu);
    return out;
}

static size_t forget_list(sc_sess *list)
{
    size_t n = 0;
    while (list != NULL) {
        sc_sess *next = list->hnext;
        sess_forget(list);
        list = next;
        n++;
    }
    return n;
}

/* One sweep: held sessions are touched (memory and store), idle ones expire. */
static void sweep(sc_server *s)
{
    int64_t now = sc_wall_ms();
    sc_store_batch *touch = s->cfg.store != NULL ? sc_store_batch_new() : NULL;
    size_t n_mem = forget_list(table_take(s, now, 0, touch));
    if (touch != NULL && sc_store_batch_bytes(touch) > 0)
        store_submit(s, touch, NULL, NULL);
    else
        sc_store_batch_free(touch);
    size_t n_store = 0;
    if (s->cfg.store != NULL) {
        sc_store_error e;
        if (sc_store_expire(s->cfg.store, now, &n_store, &e) != SC_STORE_OK)
            sc_logf("error", "store: expiring sessions: %s", e.message);
    }
    if (n_mem > 0 || n_store > 0)
        sc_logf("info", "sessions expired: %zu in memory, %zu in the store", n_mem, n_store);
}

static void *sweep_main(void *arg)
{
    sc_server *s = arg;
    int64_t interval = s->cfg.session_ttl_ms / 2;
    if (interval > SC_SWEEP_MAX_INTERVAL_MS)
        interval = SC_SWEEP_MAX_INTERVAL_MS;
    if (interval < SC_SWEEP_MIN_INTERVAL_MS)
        interval = SC_SWEEP_MIN_INTERVAL_MS;
    pthread_mutex_lock(&s->sess_mu);
    while (!s->sweep_stop) {
        struct timespec ts = sc_realtime_after_ms(interval);
        int rc = pthread_cond_timedwait(&s->sess_cv, &s->sess_mu, &ts);
        if (s->sweep_stop)
            break;
        if (rc != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&s->sess_mu);
        sweep(s);
        pthread_mutex_lock(&s->sess_mu);
    }
    pthread_mutex_unlock(&s->sess_mu);
    return NULL;
}

int sess_start(sc_server *s)
{
    if (pthread_create(&s->sweep_thread, NULL, sweep_main, s) != 0)
        return -1;
    s->sweep_started = 1;
    return 0;
}

void sess_stop(sc_server *s)
{
    if (!s->sweep_started)
        return;
    pthread_mutex_lock(&s->sess_mu);
    s->sweep_stop = 1;
    pthread_cond_broadcast(&s->sess_cv);
    pthread_mutex_unlock(&s->sess_mu);
    pthread_join(s->sweep_thread, NULL);
    s->sweep_started = 0;
}

void sess_destroy_all(sc_server *s) { forget_list(table_take(s, 0, 1, NULL)); }

/* ---- store submissions ------------------------------------------------------------------ */

typedef struct sc_ack {
    sc_server *srv;
    sc_conn *conn;   /* one reference, or NULL */
    sc_frame *frame; /* the reply to queue on conn */
    sc_sess *end;    /* one reference, or NULL: an ended session to unlink once deleted */
} sc_ack;

static _Noreturn void store_fatal(const sc_store_error *e)
{
    sc_logf("error", "store: %s (%s); stopping so that a restart recovers the last committed "
            "state (nothing acknowledged is lost)", e->message, sc_store_strerror(e->status));
    _exit(SC_EXIT_STORE_FAILED);
}

void store_fail_stop(const char *what)
{
    sc_store_error e = {SC_STORE_ENOMEM, 0, ""};
    snprintf(e.message, sizeof e.message, "%s", what);
    store_fatal(&e);
}

/* Store thread: the batch is committed (or failed). Takes only the outq mutex. */
static void store_done(void *user, const sc_store_error *result)
{
    if (result->status != SC_STORE_OK)
        store_fatal(result);
    sc_ack *a = user;
    if (a == NULL)
        return;
    if (a->conn != NULL) {
        outq_push(sc_conn_outq(a->conn), a->frame, 0);
        frame_unref(a->frame);
        conn_unref(a->conn);
    }
    if (a->end != NULL) {
        table_unlink(a->srv, a->end);
        sess_unref(a->end);
    }
    free(a);
}

void store_submit(sc_server *s, sc_store_batch *b, sc_conn *conn, sc_frame *frame)
{
    submit(s, b, conn, frame, NULL);
}

static void submit(sc_server *s, sc_store_batch *b, sc_conn *conn, sc_frame *frame, sc_sess *end)
{
    if (s->cfg.store == NULL || b == NULL) {
        sc_store_batch_free(b);
        if (conn != NULL && frame != NULL)
            outq_push(sc_conn_outq(conn), frame, 0);
        if (end != NULL)
            table_unlink(s, end);
        return;
    }
    sc_ack *a = NULL;
    if ((conn != NULL && frame != NULL) || end != NULL) {
        a = calloc(1, sizeof *a);
        if (a == NULL)
            store_fail_stop("out of memory for a durable reply");
        a->srv = s;
        if (conn != NULL && frame != NULL) {
            conn_ref(conn);
            a->conn = conn;
            a->frame = frame_ref(frame);
        }
        if (end != NULL) {
            sess_ref(end);
            a->end = end;
        }
    }
    /* Nobody waits on a batch without a reply or an ended session: it may wait for company
     * (the store's background window). */
    sc_store_error e;
    sc_store_status st = a != NULL ? sc_store_submit(s->cfg.store, b, store_done, a, &e)
                                   : sc_store_submit_background(s->cfg.store, b, store_done, a, &e);
    if (st != SC_STORE_OK)
        store_fatal(&e);
}

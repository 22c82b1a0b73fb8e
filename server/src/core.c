/*
 * core.c -- connections, channels and the Phoenix V2 protocol (PROTOCOL.md sections 2-6).
 *
 * Data flow for one client message: sc_conn_frame() reassembles fragments (FIN bit, size cap)
 * -> sc_conn_message() decodes it (proto.c: UTF-8, depth, JSON, shape) and rate-limits it ->
 * dispatch() routes it by topic and event -> the channel's instance lock is taken, the handler
 * runs, inst_publish() diffs and queues one patch frame per subscriber -> the reply is queued
 * -> writer threads send. Every refusal is answered (error reply or close code) and counted.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "statechannel/patch.h"

/* A reassembly buffer up to this size is kept for the connection's next fragmented message;
 * a larger one (a rare big message) is freed at once so idle sockets stay small. */
#define SC_FRAG_KEEP_BYTES (64 * 1024)

void sc_config_defaults(sc_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_message = SC_DEFAULT_MAX_MESSAGE;
    c->max_depth = SC_DEFAULT_MAX_DEPTH;
    c->max_topics = SC_DEFAULT_MAX_TOPICS;
    c->max_events_per_sec = SC_DEFAULT_MAX_EVENTS_PER_SEC;
    c->max_connections = SC_DEFAULT_MAX_CONNECTIONS;
    c->max_states = SC_DEFAULT_MAX_STATES;
    c->idle_timeout_ms = SC_DEFAULT_IDLE_TIMEOUT_MS;
    c->write_timeout_ms = SC_DEFAULT_WRITE_TIMEOUT_MS;
    c->queue_bytes = SC_DEFAULT_QUEUE_BYTES;
    c->queue_frames = SC_DEFAULT_QUEUE_FRAMES;
    c->writer_threads = SC_DEFAULT_WRITERS;
    c->durable = 1;
    c->session_ttl_ms = SC_DEFAULT_SESSION_TTL_MS;
    c->max_sessions = SC_DEFAULT_MAX_SESSIONS;
}

/* ---- server ------------------------------------------------------------------------------------ */

sc_server *sc_server_new(const sc_config *cfg, char *err, size_t errcap)
{
    sc_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    pthread_mutex_init(&s->reg_mu, NULL);
    pthread_mutex_init(&s->timer_mu, NULL);
    pthread_cond_init(&s->timer_cv, NULL);
    pthread_mutex_init(&s->info_mu, NULL);
    pthread_cond_init(&s->info_cv, NULL);
    pthread_mutex_init(&s->sess_mu, NULL);
    pthread_cond_init(&s->sess_cv, NULL);
    metrics_init(&s->m);
    if (cfg->handlers_dir != NULL && plugins_load(s, cfg->handlers_dir, err, errcap) != 0) {
        sc_server_free(s);
        return NULL;
    }
    if (cfg->writer_threads > 0 && (s->writers = writers_start(cfg->writer_threads)) == NULL) {
        snprintf(err, errcap, "cannot start writer threads");
        sc_server_free(s);
        return NULL;
    }
    if (async_start(s) != 0 || sess_start(s) != 0) {
        snprintf(err, errcap, "cannot start timer/dispatch/session threads");
        sc_server_free(s);
        return NULL;
    }
    return s;
}

void sc_server_stop_accepting(sc_server *s) { atomic_store(&s->stopping, 1); }
int sc_server_stopping(sc_server *s) { return atomic_load(&s->stopping); }
const sc_config *sc_server_config(const sc_server *s) { return &s->cfg; }

int sc_server_conn_count(sc_server *s)
{
    pthread_mutex_lock(&s->reg_mu);
    int n = s->n_conns;
    pthread_mutex_unlock(&s->reg_mu);
    return n;
}

int sc_server_conn_reserve(sc_server *s)
{
    if (atomic_fetch_add(&s->slots, 1) >= s->cfg.max_connections) {
        atomic_fetch_sub(&s->slots, 1);
        return -1;
    }
    return 0;
}

void sc_server_conn_release(sc_server *s) { atomic_fetch_sub(&s->slots, 1); }

int sc_server_conn_full(sc_server *s) { return atomic_load(&s->slots) >= s->cfg.max_connections; }

void sc_server_count_refusal(sc_server *s, const char *reason) { metrics_refusal(&s->m, reason); }

void sc_server_close_all(sc_server *s, int code, const char *reason)
{
    pthread_mutex_lock(&s->reg_mu);
    s->close_all_code = code;
    snprintf(s->close_all_reason, sizeof s->close_all_reason, "%s", reason ? reason : "");
    for (sc_conn *c = s->conns; c != NULL; c = c->next) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&c->close_code, &expected, code)) {
            metrics_close(&s->m, code);
            outq_close(c->q, code, reason);
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
}

void sc_server_free(sc_server *s)
{
    if (s == NULL)
        return;
    sess_stop(s);
    async_stop(s);
    if (s->cfg.store != NULL) {
        /* Every connection is gone: commit what they left (their completions touch only
         * their own connections) before the states go. */
        sc_store_error e;
        if (sc_store_flush(s->cfg.store, &e) != SC_STORE_OK)
            sc_logf("error", "store: flushing at shutdown: %s", e.message);
    }
    sess_destroy_all(s);
    inst_destroy_all(s);
    writers_stop(s->writers);
    plugins_unload(s);
    for (sc_info_msg *mm = s->info_head; mm != NULL;) {
        sc_info_msg *next = mm->next;
        free(mm->topic);
        free(mm->name);
        cJSON_Delete(mm->payload);
        free(mm);
        mm = next;
    }
    free(s->timers);
    metrics_free(&s->m);
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->timer_mu);
    pthread_cond_destroy(&s->timer_cv);
    pthread_mutex_destroy(&s->info_mu);
    pthread_cond_destroy(&s->info_cv);
    pthread_mutex_destroy(&s->sess_mu);
    pthread_cond_destroy(&s->sess_cv);
    free(s);
}

int sc_server_connect_check(sc_server *s, const cJSON *params, const char *token)
{
    for (size_t i = 0; i < s->n_plugins; i++) {
        sc_plugin *pl = s->plugins[i];
        if (pl->h.connect == NULL)
            continue;
        sc_ctx ctx;
        ctx_init(&ctx, s, pl, NULL, NULL, SC_CTX_CONNECT);
        ctx.socket_params = params;
        ctx.token = token;
        int rc = pl->h.connect(&ctx);
        int refused = (rc != SC_OK || ctx.failed);
        if (refused)
            sc_logf("info", "connect refused by %s: %s", pl->h.name,
                    ctx.failed ? ctx.reason : "refused");
        ctx_release(&ctx);
        if (refused)
            return -1;
    }
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------------ */

static sc_frame *build_frame(const char *jr, size_t jrn, const char *ref, size_t refn,
                             const char *topic_tok, size_t topicn, const char *event,
                             const char *payload, size_t plen)
{
    sbuf b = {0};
    frame_begin(&b);
    sbuf_reserve(&b, jrn + refn + topicn + plen + strlen(event) + 16);
    sbuf_put(&b, "[", 1);
    sbuf_put(&b, jr, jrn);
    sbuf_put(&b, ",", 1);
    sbuf_put(&b, ref, refn);
    sbuf_put(&b, ",", 1);
    sbuf_put(&b, topic_tok, topicn);
    sbuf_put(&b, ",", 1);
    sbuf_put_jstr(&b, event);
    sbuf_put(&b, ",", 1);
    sbuf_put(&b, payload, plen);
    sbuf_put(&b, "]", 1);
    return frame_finish(&b, SC_WS_TEXT);
}

sc_frame *msg_frame(const char *jr, size_t jrn, const char *ref, size_t refn, const char *topic,
                    const char *event, const char *payload, size_t payload_len)
{
    sbuf t = {0};
    sbuf_put_jstr(&t, topic);
    sc_frame *f = t.oom ? NULL
                        : build_frame(jr, jrn, ref, refn, t.data, t.len, event, payload,
                                      payload_len);
    sbuf_free(&t);
    return f;
}

sc_frame *msg_frame_json(const char *jr, const char *topic, const char *event,
                         const cJSON *payload)
{
    sbuf p = {0};
    if (payload != NULL)
        sbuf_put_json(&p, payload);
    else
        sbuf_puts(&p, "{}");
    sc_frame *f = p.oom ? NULL : msg_frame(jr, strlen(jr), "null", 4, topic, event, p.data, p.len);
    sbuf_free(&p);
    return f;
}

static void conn_send(sc_conn *c, sc_frame *f, uint64_t tag)
{
    if (f == NULL)
        return;
    outq_push(c->q, f, tag);
}

void chan_send(sc_chan *ch, sc_frame *f, uint64_t tag) { conn_send(ch->conn, f, tag); }

static void conn_close_with(sc_conn *c, int code, const char *reason)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&c->close_code, &expected, code))
        return;
    metrics_close(&c->srv->m, code);
    sc_logf("info", "closing a connection with %d (%s)", code, reason);
    outq_close(c->q, code, reason);
}

/* [jr, ref, topic, "phx_reply", {"status":..,"response":..}] with the raw tokens of a
 * message (NULL when out of memory). */
static sc_frame *reply_frame(sc_span jr, sc_span ref, sc_span topic, int ok,
                             const cJSON *response)
{
    sc_frame *f = NULL;
    sbuf p = {0};
    sbuf_puts(&p, ok ? "{\"status\":\"ok\",\"response\":" : "{\"status\":\"error\",\"response\":");
    if (response != NULL)
        sbuf_put_json(&p, response);
    else
        sbuf_puts(&p, "{}");
    sbuf_puts(&p, "}");
    if (!p.oom)
        f = build_frame(jr.n ? jr.p : "null", jr.n ? jr.n : 4, ref.n ? ref.p : "null",
                        ref.n ? ref.n : 4, topic.n ? topic.p : "null", topic.n ? topic.n : 4,
                        "phx_reply", p.data, p.len);
    sbuf_free(&p);
    return f;
}

static void reply_raw(sc_conn *c, sc_span jr, sc_span ref, sc_span topic, int ok,
                      const cJSON *response)
{
    sc_frame *f = reply_frame(jr, ref, topic, ok, response);
    conn_send(c, f, 0);
    frame_unref(f);
}

static void reply(sc_conn *c, const sc_msg *m, int ok, const cJSON *response)
{
    reply_raw(c, m->jr, m->ref, m->topic_raw, ok, response);
}

static cJSON *reason_obj(const char *reason, const char *message)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "reason", reason);
    if (message != NULL && message[0] != '\0')
        cJSON_AddStringToObject(r, "message", message);
    return r;
}

/* Error reply {"reason":..,"message":..} and a count in /metrics. */
static void refuse(sc_conn *c, const sc_msg *m, const char *reason, const char *message)
{
    metrics_refusal(&c->srv->m, reason);
    if (m->event != NULL && strcmp(m->event, "phx_join") == 0)
        sc_logf("info", "join %s refused: %s", m->topic, reason);
    cJSON *r = reason_obj(reason, message);
    reply(c, m, 0, r);
    cJSON_Delete(r);
}

/* ---- connections ------------------------------------------------------------------------------- */

static void conn_resync(void *user, const uint64_t *tags, size_t n);

sc_conn *sc_conn_new(sc_server *s, const cJSON *params, const char *token,
                     int statechannel_mount, sc_write_fn write, void *write_user)
{
    sc_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->srv = s;
    pthread_mutex_init(&c->mu, NULL);
    c->params = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
    c->token = token ? strdup(token) : NULL;
    c->sc_mount = statechannel_mount;
    c->q = outq_new(s->writers, s->cfg.queue_bytes, s->cfg.queue_frames, write, write_user,
                    &s->outc);
    if (c->params == NULL || c->q == NULL || (token != NULL && c->token == NULL)) {
        cJSON_Delete(c->params);
        free(c->token);
        outq_free(c->q);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    outq_set_resync(c->q, conn_resync, c);
    atomic_init(&c->refs, 1);
    c->tokens = s->cfg.max_events_per_sec;
    c->refill_ms = sc_clock_ms();
    pthread_mutex_lock(&s->reg_mu);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    /* Shutdown began between this client's upgrade and now: it would otherwise miss the close
     * frame and be cut off (1006) when the grace period ends. */
    if (s->close_all_code != 0) {
        atomic_store(&c->close_code, s->close_all_code);
        metrics_close(&s->m, s->close_all_code);
        outq_close(c->q, s->close_all_code, s->close_all_reason);
    }
    pthread_mutex_unlock(&s->reg_mu);
    atomic_fetch_add(&s->m.conns_total, 1);
    return c;
}

sc_outq *sc_conn_outq(sc_conn *c) { return c->q; }
int sc_conn_close_code(sc_conn *c) { return atomic_load(&c->close_code); }

static sc_chan *find_chan(sc_conn *c, const char *topic)
{
    for (size_t i = 0; i < c->n_chans; i++)
        if (strcmp(c->chans[i]->topic, topic) == 0)
            return c->chans[i];
    return NULL;
}

static int conn_add_chan(sc_conn *c, sc_chan *ch)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_chans == c->cap_chans) {
        size_t cap = c->cap_chans ? c->cap_chans * 2 : 4;
        sc_chan **g = realloc(c->chans, cap * sizeof *g);
        if (g == NULL) {
            pthread_mutex_unlock(&c->mu);
            return -1;
        }
        c->chans = g;
        c->cap_chans = cap;
    }
    c->chans[c->n_chans++] = ch;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void conn_remove_chan(sc_conn *c, sc_chan *ch)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_chans; i++) {
        if (c->chans[i] == ch) {
            memmove(&c->chans[i], &c->chans[i + 1], (c->n_chans - i - 1) * sizeof *c->chans);
            c->n_chans--;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

static void chan_free(sc_chan *ch)
{
    if (ch->sess != NULL) {
        sess_release(ch->conn->srv, ch->sess);
        sess_unref(ch->sess);
    }
    free(ch->topic);
    free(ch->jr);
    free(ch);
}

/* Runs on a writer thread: one full state for each channel whose patches were dropped. */
static void conn_resync(void *user, const uint64_t *tags, size_t n)
{
    sc_conn *c = user;
    pthread_mutex_lock(&c->mu);
    for (size_t k = 0; k < n; k++) {
        sc_chan *ch = NULL;
        for (size_t i = 0; i < c->n_chans; i++)
            if (c->chans[i]->id == tags[k])
                ch = c->chans[i];
        sc_frame *f = NULL;
        if (ch != NULL) {
            pthread_mutex_lock(&ch->inst->mu);
            if (ch->subscribed)
                f = inst_state_frame(ch->inst, ch);
            /* Queued under the instance lock: no newer patch of it can be queued before. */
            if (f != NULL) {
                sc_logf("info", "slow client on %s: dropped its queued patches, sending the "
                        "state at version %llu", ch->topic, (unsigned long long)ch->inst->version);
                outq_push_resync(c->q, f, tags[k]);
            }
            else
                outq_forget(c->q, tags[k]);
            pthread_mutex_unlock(&ch->inst->mu);
        } else {
            outq_forget(c->q, tags[k]);
        }
        frame_unref(f);
    }
    pthread_mutex_unlock(&c->mu);
}

/* The channel leaves its instance (reason as handler.h's leave), and is freed. */
static void chan_leave(sc_conn *c, sc_chan *ch, const char *reason)
{
    conn_remove_chan(c, ch);
    sc_server *s = c->srv;
    sc_inst *in = ch->inst;
    sc_sess *ss = ch->sess;
    pthread_mutex_lock(&in->mu);
    inst_unsubscribe(in, ch);
    sc_store_batch *b = s->cfg.store != NULL ? sc_store_batch_new() : NULL;
    if (!in->dead && in->pl->h.leave != NULL) {
        sc_ctx ctx;
        ctx_init(&ctx, s, in->pl, in, ch, SC_CTX_LEAVE);
        ctx.batch = b;
        in->pl->h.leave(&ctx, reason);
        inst_publish(in, &ctx); /* a per-connection state outlives it with its session */
        ctx_release(&ctx);
    }
    if (ss->attached == ch)
        ss->attached = NULL;
    /* Joined without `_sc`: the client cannot resume, the session ends here. */
    if (!ss->keep && in->scope == SC_SCOPE_CONNECTION)
        inst_kill(in);
    /* A per-connection state nobody holds does not tick until its session resumes. */
    if (in->scope == SC_SCOPE_CONNECTION && in->n_subs == 0)
        timers_cancel_inst(in);
    if (!ss->keep) {
        sess_end(s, ss, b);
    } else if (b != NULL) {
        sess_touch_item(s, b, ss); /* last seen: now (the expiry clock starts) */
        store_submit(s, b, NULL, NULL);
    }
    pthread_mutex_unlock(&in->mu);
    outq_forget(c->q, ch->id);
    inst_unref(in);
    atomic_fetch_add(&s->m.leaves_total, 1);
    chan_free(ch); /* releases the session */
}

void sc_conn_close(sc_conn *c)
{
    if (c == NULL)
        return;
    sc_server *s = c->srv;
    const char *reason = atomic_load(&s->stopping) ? "shutdown" : "closed";
    while (c->n_chans > 0)
        chan_leave(c, c->chans[c->n_chans - 1], reason);
    pthread_mutex_lock(&s->reg_mu);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->n_conns--;
    pthread_mutex_unlock(&s->reg_mu);
    outq_shutdown(c->q);
    conn_unref(c);
}

void conn_ref(sc_conn *c) { atomic_fetch_add(&c->refs, 1); }

/* The last reference frees: sc_conn_close's, or a durable reply's committed after it. */
void conn_unref(sc_conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    outq_free(c->q);
    cJSON_Delete(c->params);
    free(c->token);
    free(c->chans);
    sbuf_free(&c->frag);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- join / leave ------------------------------------------------------------------------------ */

/* Integral JSON numbers that a JS client can send exactly. */
static int as_u53(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

/* The instance a join attaches to, locked, with one reference for the caller; NULL when it
 * cannot be had (*why says what). A per-topic state is loaded from the store the first
 * time; a resumed per-connection session brings its own. */
/* join_inst's reason when --max-states is reached (compared by address: the join is then
 * refused as "too_many_states" rather than a handler error). */
static const char SC_WHY_TOO_MANY_STATES[] = "the server holds --max-states topic states";

static sc_inst *join_inst(sc_server *s, sc_plugin *pl, const char *topic, sc_sess *ss,
                          int resumed, const char **why)
{
    sc_inst *in = NULL;
    *why = "cannot create the state";
    if (pl->h.scope == SC_SCOPE_CONNECTION) {
        if (resumed) {
            pthread_mutex_lock(&s->sess_mu);
            in = ss->inst;
            pthread_mutex_unlock(&s->sess_mu);
            inst_ref(in);
            pthread_mutex_lock(&in->mu);
        } else {
            in = inst_new_private(s, pl, topic);
            if (in == NULL)
                return NULL;
            pthread_mutex_lock(&in->mu);
            if (s->cfg.store != NULL && ss->keep && inst_set_store_key(in, ss->state_key, 1) != 0) {
                inst_kill(in);
                pthread_mutex_unlock(&in->mu);
                inst_unref(in);
                return NULL;
            }
            inst_ref(in);
            /* The session owns the state from now on; set under sess_mu since a resume on
             * another thread may look it up as soon as the client knows the id. */
            pthread_mutex_lock(&s->sess_mu);
            ss->inst = in;
            pthread_mutex_unlock(&s->sess_mu);
        }
        if (in->dead) {
            pthread_mutex_unlock(&in->mu);
            inst_unref(in);
            return NULL;
        }
        return in;
    }
    for (int attempt = 0; attempt < 8 && in == NULL; attempt++) {
        int full;
        in = inst_get_shared(s, pl, topic, &full);
        if (in == NULL) {
            if (full)
                *why = SC_WHY_TOO_MANY_STATES;
            return NULL;
        }
        pthread_mutex_lock(&in->mu);
        if (in->dead) { /* a concurrent creating join failed: try again */
            pthread_mutex_unlock(&in->mu);
            inst_unref(in);
            in = NULL;
        }
    }
    if (in != NULL && inst_load_topic(in) < 0) {
        inst_kill(in);
        pthread_mutex_unlock(&in->mu);
        inst_unref(in);
        *why = "the stored state cannot be read";
        return NULL;
    }
    return in;
}

static void do_join(sc_conn *c, const sc_msg *m)
{
    sc_server *s = c->srv;
    const char *topic = m->topic;
    atomic_fetch_add(&s->m.joins_total, 1);
    if (atomic_load(&s->stopping)) {
        refuse(c, m, "unavailable", "the server is shutting down");
        return;
    }
    if (!cJSON_IsObject(m->payload)) {
        refuse(c, m, "invalid_payload", "join params must be an object");
        return;
    }
    sc_chan *old = find_chan(c, topic);
    if (old != NULL) {
        sc_frame *f = msg_frame(old->jr, strlen(old->jr), old->jr, strlen(old->jr), topic,
                                "phx_close", "{}", 2);
        conn_send(c, f, 0);
        frame_unref(f);
        chan_leave(c, old, "rejoin");
    }
    if ((int)c->n_chans >= s->cfg.max_topics) {
        refuse(c, m, "too many channels joined", NULL);
        return;
    }
    sc_plugin *pl = sc_plugin_match(s, topic);
    if (pl == NULL) {
        refuse(c, m, "unmatched topic", NULL);
        return;
    }
    if (strlen(topic) > SC_MAX_TOPIC_LEN) {
        refuse(c, m, "invalid topic", "topic too long");
        return;
    }
    sc_chan *ch = calloc(1, sizeof *ch);
    if (ch == NULL || (ch->topic = strdup(topic)) == NULL ||
        (ch->jr = strndup(m->ref.n ? m->ref.p : "null", m->ref.n ? m->ref.n : 4)) == NULL) {
        if (ch != NULL)
            chan_free(ch);
        refuse(c, m, "handler error", "out of memory");
        return;
    }
    ch->conn = c;
    ch->id = ++c->next_chan_id;
    ch->dialect = (c->sc_mount || pl->h.dialect == SC_DIALECT_STATECHANNEL)
                      ? SC_DIALECT_STATECHANNEL
                      : SC_DIALECT_LIVESTATE;

    /* Resume (PROTOCOL.md section 4): a known session of this topic, else a fresh one. */
    const cJSON *resume = cJSON_GetObjectItemCaseSensitive(m->payload, "_sc");
    const cJSON *jsid = cJSON_GetObjectItemCaseSensitive(resume, "session");
    uint64_t since = 0;
    int has_since = as_u53(cJSON_GetObjectItemCaseSensitive(resume, "version"), &since);
    int resumed = 0;
    if (cJSON_IsString(jsid))
        resumed = (ch->sess = sess_resume(s, jsid->valuestring, topic, pl->h.scope, pl)) != NULL;
    for (int fresh = 0; fresh < 2; fresh++) {
        if (ch->sess == NULL)
            ch->sess = sess_new(s, topic, pl->h.scope, cJSON_IsObject(resume));
        if (ch->sess == NULL) {
            chan_free(ch);
            refuse(c, m, "handler error", "out of memory");
            return;
        }
        pthread_mutex_lock(&s->sess_mu);
        sc_inst *owned = ch->sess->inst;
        pthread_mutex_unlock(&s->sess_mu);
        if (!resumed || owned == NULL)
            break;
        /* A resumed per-connection state: usable unless it was just expired or killed. */
        pthread_mutex_lock(&owned->mu);
        int dead = owned->dead;
        pthread_mutex_unlock(&owned->mu);
        if (!dead)
            break;
        sess_release(s, ch->sess);
        sess_unref(ch->sess);
        ch->sess = NULL;
        resumed = 0;
    }
    if (conn_add_chan(c, ch) != 0) {
        chan_free(ch);
        refuse(c, m, "handler error", "out of memory");
        return;
    }
    sc_sess *ss = ch->sess;

    const char *why;
    sc_inst *in = join_inst(s, pl, topic, ss, resumed, &why);
    if (in == NULL) {
        conn_remove_chan(c, ch);
        chan_free(ch);
        refuse(c, m, why == SC_WHY_TOO_MANY_STATES ? "too_many_states" : "handler error", why);
        return;
    }

    sc_ctx ctx;
    ctx_init(&ctx, s, pl, in, ch, SC_CTX_JOIN);
    ctx.is_new = !in->created;
    int rc = pl->h.join != NULL ? pl->h.join(&ctx, m->payload) : SC_OK;
    if (rc != SC_OK || ctx.failed) {
        int handler_error = !ctx.failed;
        char reason[64], message[256];
        snprintf(reason, sizeof reason, "%s", handler_error ? "handler error" : ctx.reason);
        snprintf(message, sizeof message, "%s",
                 handler_error ? "the handler failed to initialise" : ctx.message);
        if (ctx.is_new)
            inst_kill(in);
        else
            inst_restore(in);
        pthread_mutex_unlock(&in->mu);
        ctx_release(&ctx);
        inst_unref(in);
        if (handler_error) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "message", message);
            sc_frame *f = msg_frame_json(ch->jr, topic, "error", e);
            conn_send(c, f, 0);
            frame_unref(f);
            cJSON_Delete(e);
            sc_logf("warn", "join %s: handler %s failed to initialise the state", topic,
                    pl->h.name);
        }
        conn_remove_chan(c, ch);
        chan_free(ch);
        refuse(c, m, reason, message);
        return;
    }
    if (ctx.is_new)
        in->created = 1;
    /* The session row first, then what the join changed, in one batch. */
    if (s->cfg.store != NULL && (ctx.batch = sc_store_batch_new()) != NULL)
        sess_touch_item(s, ctx.batch, ss);
    /* Changes of the join (a new state, presence) go to the other subscribers first; this
     * client's own pushes follow its reply. */
    cJSON *own_pushes = ctx.pushes;
    ctx.pushes = NULL;
    inst_publish(in, &ctx);
    ctx.pushes = own_pushes;
    store_submit(s, ctx.batch, NULL, NULL);
    ctx.batch = NULL;
    ch->inst = in;
    ss->attached = ch; /* a resume takes the session over from an older channel */
    inst_subscribe(in, ch);

    cJSON *resp = cJSON_CreateObject();
    cJSON_AddStringToObject(resp, "session", ss->id);
    cJSON_AddNumberToObject(resp, "version", (double)in->version);
    reply(c, m, 1, resp);
    cJSON_Delete(resp);
    if (ctx.pushes != NULL) {
        const cJSON *p;
        cJSON_ArrayForEach(p, ctx.pushes)
        {
            sc_frame *f = msg_frame_json(ch->jr, topic, p->child->valuestring, p->child->next);
            conn_send(c, f, 0);
            frame_unref(f);
        }
    }
    if (!(resumed && has_since && inst_catch_up(in, ch, since))) {
        sc_frame *f = inst_state_frame(in, ch);
        conn_send(c, f, ch->id);
        frame_unref(f);
    }
    pthread_mutex_unlock(&in->mu);
    ctx_release(&ctx);
    atomic_fetch_add(&s->m.joins_ok, 1);
}

static void do_leave(sc_conn *c, sc_chan *ch, const sc_msg *m)
{
    char *jr = strdup(ch->jr);
    char *topic = strdup(ch->topic);
    chan_leave(c, ch, "leave");
    reply(c, m, 1, NULL);
    if (jr != NULL && topic != NULL) {
        sc_frame *f = msg_frame(jr, strlen(jr), jr, strlen(jr), topic, "phx_close", "{}", 2);
        conn_send(c, f, 0);
        frame_unref(f);
    }
    free(jr);
    free(topic);
}

/* ---- events ------------------------------------------------------------------------------------ */

typedef enum ev_mode { EV_LVS, EV_SCMSG, EV_OP } ev_mode;

/* Runs the handler's event callback (the instance lock held) and publishes, into batch when
 * not NULL. Returns 1 when the event was accepted; *response receives the reply's response
 * (owned by the caller). */
static int run_event_locked(sc_conn *c, sc_chan *ch, const char *name, const cJSON *payload,
                            ev_mode mode, int64_t base, uint64_t op, cJSON **response,
                            char *reason_out, size_t reason_cap, sc_store_batch *batch)
{
    sc_server *s = c->srv;
    sc_inst *in = ch->inst;
    sc_ctx ctx;
    ctx_init(&ctx, s, in->pl, in, ch, SC_CTX_EVENT);
    ctx.batch = batch;
    ctx.wants_reply = 1;
    ctx.base = base;
    int rc;
    if (in->dead) {
        rc = sc_fail(&ctx, "handler_error", "the state is gone");
    } else if (in->pl->h.event != NULL) {
        rc = in->pl->h.event(&ctx, name, payload);
    } else {
        rc = sc_fail(&ctx, "unknown_event", "no event %s", name);
    }
    atomic_fetch_add(&s->m.events_total, 1);
    int ok = (rc == SC_OK && !ctx.failed);
    int changed = 0;
    if (!ok) {
        if (!in->dead)
            inst_restore(in);
        const char *reason = ctx.failed ? ctx.reason : "handler_error";
        snprintf(reason_out, reason_cap, "%s", reason);
        *response = cJSON_CreateObject();
        if (mode == EV_OP)
            cJSON_AddNumberToObject(*response, "op", (double)op);
        cJSON_AddStringToObject(*response, "reason", reason);
        if (ctx.failed && ctx.message[0] != '\0')
            cJSON_AddStringToObject(*response, "message", ctx.message);
        metrics_refusal(&s->m, reason);
    } else {
        changed = inst_publish(in, &ctx);
        if (mode == EV_OP) {
            *response = cJSON_CreateObject();
            cJSON_AddNumberToObject(*response, "op", (double)op);
            cJSON_AddNumberToObject(*response, "version", (double)in->version);
            cJSON_AddItemToObject(*response, "reply",
                                  ctx.reply ? ctx.reply : cJSON_CreateNull());
            ctx.reply = NULL;
        } else {
            *response = ctx.reply ? ctx.reply : cJSON_CreateObject();
            ctx.reply = NULL;
        }
    }
    if (mode == EV_SCMSG && !changed) {
        /* The StateChannel client waits for a state_diff after each of its messages, refused
         * ones included (PROTOCOL.md section 5): an empty diff at the unchanged version. */
        char payload_json[64];
        int n = snprintf(payload_json, sizeof payload_json, "{\"diff\":[],\"version\":%llu}",
                         (unsigned long long)in->version);
        sc_frame *f = msg_frame(ch->jr, strlen(ch->jr), "null", 4, in->topic, "state_diff",
                                payload_json, (size_t)n);
        conn_send(c, f, 0);
        frame_unref(f);
    }
    ctx_release(&ctx);
    return ok;
}

static int run_event(sc_conn *c, sc_chan *ch, const char *name, const cJSON *payload,
                     ev_mode mode, cJSON **response, char *reason_out, size_t reason_cap)
{
    pthread_mutex_lock(&ch->inst->mu);
    int ok = run_event_locked(c, ch, name, payload, mode, -1, 0, response, reason_out,
                              reason_cap, NULL);
    pthread_mutex_unlock(&ch->inst->mu);
    return ok;
}

static void do_event(sc_conn *c, sc_chan *ch, const sc_msg *m, const char *name,
                     const cJSON *payload, ev_mode mode)
{
    cJSON *resp = NULL;
    char reason[64];
    int ok = run_event(c, ch, name, payload, mode, &resp, reason, sizeof reason);
    reply(c, m, ok, resp);
    cJSON_Delete(resp);
}


static void do_op(sc_conn *c, sc_chan *ch, const sc_msg *m)
{
    const cJSON *p = m->payload;
    const cJSON *jname = cJSON_GetObjectItemCaseSensitive(p, "name");
    const cJSON *jop = cJSON_GetObjectItemCaseSensitive(p, "op");
    const cJSON *jbase = cJSON_GetObjectItemCaseSensitive(p, "base");
    uint64_t op = 0, base = 0;
    int op_ok = as_u53(jop, &op) && op >= 1;
    if (!cJSON_IsObject(p) || !cJSON_IsString(jname) || !op_ok ||
        (jbase != NULL && !as_u53(jbase, &base))) {
        metrics_refusal(&c->srv->m, "invalid_payload");
        cJSON *r = cJSON_CreateObject();
        if (op_ok)
            cJSON_AddNumberToObject(r, "op", (double)op);
        cJSON_AddStringToObject(r, "reason", "invalid_payload");
        cJSON_AddStringToObject(r, "message",
                                "sc:event needs {\"name\": string, \"op\": integer >= 1}");
        reply(c, m, 0, r);
        cJSON_Delete(r);
        return;
    }
    sc_server *s = c->srv;
    sc_inst *in = ch->inst;
    sc_sess *ss = ch->sess;
    int durable = s->cfg.store != NULL && s->cfg.durable;
    /* The session's numbering is guarded by its instance's lock: every channel joined with
     * the session is joined to this instance. */
    pthread_mutex_lock(&in->mu);
    if (ss->attached != ch) {
        pthread_mutex_unlock(&in->mu);
        metrics_refusal(&s->m, "session_moved");
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "op", (double)op);
        cJSON_AddStringToObject(r, "reason", "session_moved");
        cJSON_AddStringToObject(r, "message", "a newer join resumed this session");
        reply(c, m, 0, r);
        cJSON_Delete(r);
        return;
    }
    if (op <= ss->last_op) {
        sc_outcome *o = &ss->outcomes[op % SC_OUTCOMES_KEPT];
        cJSON *r;
        int ok = 1;
        if (o->op == op && o->response != NULL) {
            r = cJSON_Duplicate(o->response, 1);
            ok = o->ok;
        } else {
            r = cJSON_CreateObject();
            cJSON_AddNumberToObject(r, "op", (double)op);
            cJSON_AddStringToObject(r, "outcome", "unknown");
        }
        cJSON_AddBoolToObject(r, "duplicate", 1);
        sc_frame *f = reply_frame(m->jr, m->ref, m->topic_raw, ok, r);
        cJSON_Delete(r);
        /* Durable: the original may still be committing; an empty batch completes after it,
         * so a duplicate is never acknowledged before the op itself is on disk. */
        if (durable)
            store_submit(s, sc_store_batch_new(), c, f);
        else
            conn_send(c, f, 0);
        frame_unref(f);
        pthread_mutex_unlock(&in->mu);
        return;
    }
    if (op > ss->last_op + 1) {
        uint64_t expected = ss->last_op + 1;
        pthread_mutex_unlock(&in->mu);
        metrics_refusal(&s->m, "op_gap");
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "op", (double)op);
        cJSON_AddStringToObject(r, "reason", "op_gap");
        cJSON_AddNumberToObject(r, "expected", (double)expected);
        reply(c, m, 0, r);
        cJSON_Delete(r);
        return;
    }
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(p, "payload");
    cJSON *empty = NULL;
    if (inner == NULL)
        inner = empty = cJSON_CreateObject();
    cJSON *resp = NULL;
    char reason[64];
    sc_store_batch *b = s->cfg.store != NULL ? sc_store_batch_new() : NULL;
    int ok = run_event_locked(c, ch, jname->valuestring, inner, EV_OP,
                              jbase != NULL ? (int64_t)base : -1, op, &resp, reason,
                              sizeof reason, b);
    cJSON_Delete(empty);
    ss->last_op = op;
    sc_outcome *o = &ss->outcomes[op % SC_OUTCOMES_KEPT];
    cJSON_Delete(o->response);
    o->op = op;
    o->ok = ok;
    o->response = resp ? cJSON_Duplicate(resp, 1) : NULL;
    sc_frame *f = reply_frame(m->jr, m->ref, m->topic_raw, ok, resp);
    if (b != NULL) {
        /* The op's number and outcome commit with its effect (PROTOCOL.md section 4). */
        sbuf body = {0};
        sbuf_put_json(&body, resp);
        if (body.oom || sc_store_batch_outcome(b, ss->id, op, ok, in->version, body.data,
                                               body.len) != SC_STORE_OK)
            store_fail_stop("out of memory for an op outcome");
        sbuf_free(&body);
    } else if (s->cfg.store != NULL) {
        store_fail_stop("out of memory for a batch");
    }
    if (durable) {
        store_submit(s, b, c, f);
    } else {
        conn_send(c, f, 0);
        store_submit(s, b, NULL, NULL);
    }
    frame_unref(f);
    pthread_mutex_unlock(&in->mu);
    cJSON_Delete(resp);
}

static void send_state(sc_conn *c, sc_chan *ch, sc_dialect dialect)
{
    pthread_mutex_lock(&ch->inst->mu);
    sc_dialect saved = ch->dialect;
    ch->dialect = dialect;
    sc_frame *f = inst_state_frame(ch->inst, ch);
    ch->dialect = saved;
    /* Tagged: if this client is too slow for it, the resync sends a newer one anyway. */
    conn_send(c, f, ch->id);
    pthread_mutex_unlock(&ch->inst->mu);
    frame_unref(f);
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static int raw_eq(sc_span a, const char *b) { return a.n == strlen(b) && memcmp(a.p, b, a.n) == 0; }

static void dispatch(sc_conn *c, const sc_msg *m)
{
    const char *topic = m->topic, *event = m->event;
    if (strcmp(topic, "phoenix") == 0) {
        if (strcmp(event, "heartbeat") == 0)
            reply(c, m, 1, NULL);
        else
            refuse(c, m, "unknown_event", "the phoenix topic only takes heartbeat");
        return;
    }
    if (strcmp(event, "phx_join") == 0) {
        do_join(c, m);
        return;
    }
    sc_chan *ch = find_chan(c, topic);
    if (ch == NULL) {
        if (strcmp(event, "phx_leave") == 0) {
            reply(c, m, 1, NULL);
        } else {
            /* As Phoenix: [null, ref, topic, "phx_reply", error "unmatched topic"]. */
            metrics_refusal(&c->srv->m, "unmatched topic");
            cJSON *r = reason_obj("unmatched topic", NULL);
            sc_span none = {0};
            reply_raw(c, none, m->ref, m->topic_raw, 0, r);
            cJSON_Delete(r);
        }
        return;
    }
    if (m->jr_is_str && !raw_eq(m->jr, ch->jr)) {
        metrics_refusal(&c->srv->m, "stale join_ref");
        return; /* a message of an older instance of this channel: ignored */
    }
    if (strcmp(event, "phx_leave") == 0) {
        do_leave(c, ch, m);
    } else if (strncmp(event, "lvs_evt:", 8) == 0) {
        do_event(c, ch, m, event + 8, m->payload, EV_LVS);
    } else if (strcmp(event, "sc:event") == 0) {
        do_op(c, ch, m);
    } else if (strncmp(event, "_SCMSG:", 7) == 0) {
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(m->payload, "value");
        cJSON *empty = NULL;
        if (value == NULL)
            value = empty = cJSON_CreateObject();
        do_event(c, ch, m, event + 7, value, EV_SCMSG);
        cJSON_Delete(empty);
    } else if (strcmp(event, "lvs_refresh") == 0) {
        reply(c, m, 1, NULL);
        send_state(c, ch, SC_DIALECT_LIVESTATE);
    } else if (strcmp(event, "_SC_SYNC_") == 0) {
        reply(c, m, 1, NULL);
        send_state(c, ch, SC_DIALECT_STATECHANNEL);
    } else {
        refuse(c, m, "unknown_event", event);
    }
}

/* Token bucket: returns 1 when the message may proceed. */
static int rate_ok(sc_conn *c)
{
    double rate = c->srv->cfg.max_events_per_sec;
    int64_t now = sc_clock_ms();
    c->tokens += (double)(now - c->refill_ms) * rate / 1000.0;
    c->refill_ms = now;
    if (c->tokens > rate)
        c->tokens = rate;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        c->strikes = 0;
        return 1;
    }
    c->strikes++;
    return 0;
}

void sc_conn_message(sc_conn *c, const char *data, size_t len)
{
    sc_server *s = c->srv;
    if (atomic_load(&c->close_code) != 0)
        return;
    atomic_fetch_add(&s->m.messages_in, 1);
    atomic_fetch_add(&s->m.bytes_in, len);
    if (len > s->cfg.max_message) {
        metrics_refusal(&s->m, "too_large");
        conn_close_with(c, 1009, "message too large");
        return;
    }
    sc_msg m;
    sc_msg_status st = msg_decode(data, len, s->cfg.max_depth, &m);
    switch (st) {
    case SC_MSG_OK:
        break;
    case SC_MSG_BAD_UTF8:
        metrics_refusal(&s->m, "invalid_utf8");
        conn_close_with(c, 1007, "invalid UTF-8");
        goto out;
    case SC_MSG_TOO_DEEP:
    case SC_MSG_INVALID: {
        const char *reason = st == SC_MSG_TOO_DEEP ? "too_deep" : "invalid_message";
        if (m.ref_is_str)
            refuse(c, &m, reason,
                   st == SC_MSG_TOO_DEEP ? "JSON nested too deeply"
                                         : "expected [join_ref, ref, topic, event, payload]");
        else {
            metrics_refusal(&s->m, reason);
            conn_close_with(c, 1008, reason);
        }
        goto out;
    }
    }
    if (!rate_ok(c)) {
        if (c->strikes > SC_RATE_LIMIT_STRIKES) {
            metrics_refusal(&s->m, "rate_limited");
            conn_close_with(c, 1008, "rate limit exceeded");
        } else {
            refuse(c, &m, "rate_limited", "too many messages per second");
        }
        goto out;
    }
    dispatch(c, &m);
out:
    msg_free(&m);
}

void sc_conn_frame(sc_conn *c, int fin, int opcode, const char *data, size_t len)
{
    if (atomic_load(&c->close_code) != 0)
        return;
    size_t max = c->srv->cfg.max_message;
    switch (opcode) {
    case 0x1: /* text */
        if (c->in_frag) {
            conn_close_with(c, 1002, "new message inside a fragmented one");
            return;
        }
        if (fin) {
            sc_conn_message(c, data, len);
            return;
        }
        if (len > max) {
            metrics_refusal(&c->srv->m, "too_large");
            conn_close_with(c, 1009, "message too large");
            return;
        }
        c->frag.len = 0;
        sbuf_put(&c->frag, data, len);
        c->in_frag = 1;
        return;
    case 0x0: /* continuation */
        if (!c->in_frag) {
            conn_close_with(c, 1002, "continuation without a message");
            return;
        }
        if (c->frag.len + len > max) {
            metrics_refusal(&c->srv->m, "too_large");
            sbuf_free(&c->frag);
            c->in_frag = 0;
            conn_close_with(c, 1009, "message too large");
            return;
        }
        sbuf_put(&c->frag, data, len);
        if (c->frag.oom) {
            sbuf_free(&c->frag);
            c->in_frag = 0;
            conn_close_with(c, 1011, "out of memory");
            return;
        }
        if (fin) {
            c->in_frag = 0;
            sc_conn_message(c, c->frag.data ? c->frag.data : "", c->frag.len);
            /* Do not keep a big buffer around for the connection's lifetime. */
            if (c->frag.cap > SC_FRAG_KEEP_BYTES)
                sbuf_free(&c->frag);
            c->frag.len = 0;
        }
        return;
    case 0x2: /* binary */
        metrics_refusal(&c->srv->m, "binary");
        conn_close_with(c, 1003, "binary frames are not supported");
        return;
    case 0x8: { /* close: answer with the same code */
        int code = len >= 2 ? (((unsigned char)data[0] << 8) | (unsigned char)data[1]) : 1000;
        /* Echo only codes an endpoint may send (RFC 6455 7.4, the IANA registry): 1004 and
         * 1016-2999 are reserved, 1005/1006/1015 never sent (found by tests/fuzz). */
        if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
              (code >= 3000 && code <= 4999)))
            code = 1002;
        conn_close_with(c, code, "closed by the client");
        return;
    }
    case 0x9: { /* ping (when the transport does not answer it itself) */
        sbuf b = {0};
        frame_begin(&b);
        sbuf_put(&b, data, len > 125 ? 125 : len);
        sc_frame *f = frame_finish(&b, SC_WS_PONG);
        conn_send(c, f, 0);
        frame_unref(f);
        return;
    }
    case 0xA: /* pong */
        return;
    default:
        conn_close_with(c, 1002, "unknown opcode");
        return;
    }
}

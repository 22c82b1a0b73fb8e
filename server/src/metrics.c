/*
 * metrics.c -- counters for /metrics. Hot counters are relaxed atomics (no lock on the data
 * path); refusal reasons go through a small table under a mutex (refusals are the rare path);
 * the store's counters are read from sc_store_stats_get() at each scrape (one mutex).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Upper bounds (seconds) of the diff histogram; the last bucket is +Inf. */
static const double diff_bounds[SC_DIFF_BUCKETS - 1] = {0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10};

/* Close codes counted one by one (1000-1015); others go to the last slot. */
#define SC_CLOSE_SLOTS 16

void metrics_init(sc_metrics *m) { pthread_mutex_init(&m->reason_mu, NULL); }

void metrics_free(sc_metrics *m)
{
    for (int i = 0; i < SC_MAX_REASONS; i++)
        free(m->reason_names[i]);
    pthread_mutex_destroy(&m->reason_mu);
}

void metrics_refusal(sc_metrics *m, const char *reason)
{
    pthread_mutex_lock(&m->reason_mu);
    int i;
    for (i = 0; i < SC_MAX_REASONS && m->reason_names[i] != NULL; i++)
        if (strcmp(m->reason_names[i], reason) == 0)
            break;
    if (i < SC_MAX_REASONS && m->reason_names[i] == NULL)
        m->reason_names[i] = strdup(reason);
    if (i < SC_MAX_REASONS && m->reason_names[i] != NULL)
        m->reason_counts[i]++;
    else
        m->reason_other++;
    pthread_mutex_unlock(&m->reason_mu);
}

void metrics_close(sc_metrics *m, int code)
{
    int slot = (code >= 1000 && code < 1000 + SC_CLOSE_SLOTS - 1) ? code - 1000 : SC_CLOSE_SLOTS - 1;
    atomic_fetch_add_explicit(&m->closes_by_code[slot], 1, memory_order_relaxed);
}

void metrics_diff(sc_metrics *m, double seconds)
{
    atomic_fetch_add_explicit(&m->diff_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->diff_usec_sum, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
    int b = 0;
    while (b < SC_DIFF_BUCKETS - 1 && seconds > diff_bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->diff_bucket[b], 1, memory_order_relaxed);
}

static unsigned long long ld(atomic_ullong *v) { return atomic_load_explicit(v, memory_order_relaxed); }

/* Prometheus label values escape backslash, quote and newline. */
static void put_label(sbuf *o, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            sbuf_put(o, "\\", 1);
        if (*p == '\n') {
            sbuf_puts(o, "\\n");
            continue;
        }
        sbuf_put(o, p, 1);
    }
}

static void counter(sbuf *o, const char *name, const char *help, unsigned long long v)
{
    sbuf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

/* The store's counters (sc_store_stats), when the server has a store (--store on). */
static void store_metrics(sc_server *s, sbuf *o)
{
    if (s->cfg.store == NULL)
        return;
    sc_store_stats st;
    sc_store_stats_get(s->cfg.store, &st);
    counter(o, "statechannel_store_commits_total", "Store transactions committed (group commits).", st.commits);
    counter(o, "statechannel_store_batches_total", "Store batches completed (ok or failed); / commits = mean group size.", st.batches);
    counter(o, "statechannel_store_failed_batches_total", "Store batches completed with an error.", st.failed_batches);
    counter(o, "statechannel_store_checkpoints_total", "State snapshots written by the store's checkpoint policy.", st.checkpoints);
    counter(o, "statechannel_store_trimmed_patches_total", "Patches dropped from logs past the resume window.", st.trimmed);
    counter(o, "statechannel_store_queue_waits_total", "Store submissions that waited for room in the queue (back-pressure).", st.queue_waits);
    sbuf_printf(o, "# HELP statechannel_store_commit_seconds_total Time spent applying and committing groups, fsync included; / commits = mean commit latency.\n"
                   "# TYPE statechannel_store_commit_seconds_total counter\n"
                   "statechannel_store_commit_seconds_total %.6f\n",
                (double)st.commit_us / 1e6);
    sbuf_printf(o, "# HELP statechannel_store_max_group_batches The most batches committed in one group.\n"
                   "# TYPE statechannel_store_max_group_batches gauge\n"
                   "statechannel_store_max_group_batches %llu\n",
                (unsigned long long)st.max_group);
}

void sc_http_metrics(sc_server *s, sbuf *o)
{
    sc_metrics *m = &s->m;
    sbuf_printf(o, "# HELP statechannel_connections Open WebSocket connections.\n"
                   "# TYPE statechannel_connections gauge\nstatechannel_connections %d\n",
                sc_server_conn_count(s));
    /* Outbound queues: the total, and the largest (a client that stops reading shows here,
     * bounded by --max-queue-bytes). O(connections) per scrape; lock order reg_mu -> queue. */
    size_t queued = 0, queued_max = 0;
    pthread_mutex_lock(&s->reg_mu);
    size_t states = s->n_topic_states;
    for (sc_conn *c = s->conns; c != NULL; c = c->next) {
        size_t bytes = 0;
        outq_stats(c->q, &bytes, NULL, NULL);
        queued += bytes;
        if (bytes > queued_max)
            queued_max = bytes;
    }
    pthread_mutex_unlock(&s->reg_mu);
    sbuf_printf(o, "# HELP statechannel_queued_bytes Bytes waiting in outbound queues.\n"
                   "# TYPE statechannel_queued_bytes gauge\nstatechannel_queued_bytes %zu\n"
                   "# HELP statechannel_queued_bytes_max The largest outbound queue of one connection.\n"
                   "# TYPE statechannel_queued_bytes_max gauge\nstatechannel_queued_bytes_max %zu\n",
                queued, queued_max);
    sbuf_printf(o, "# HELP statechannel_states Topic states held in memory (cap: --max-states).\n"
                   "# TYPE statechannel_states gauge\nstatechannel_states %zu\n", states);
    counter(o, "statechannel_connections_total", "WebSocket connections opened.", ld(&m->conns_total));
    counter(o, "statechannel_messages_received_total", "Client messages received.", ld(&m->messages_in));
    counter(o, "statechannel_bytes_received_total", "Client message bytes received.", ld(&m->bytes_in));
    counter(o, "statechannel_joins_total", "Join requests.", ld(&m->joins_total));
    counter(o, "statechannel_joins_ok_total", "Successful joins.", ld(&m->joins_ok));
    counter(o, "statechannel_leaves_total", "Channels left (leave, close, rejoin, shutdown).", ld(&m->leaves_total));
    counter(o, "statechannel_events_total", "Handler event callbacks run.", ld(&m->events_total));
    counter(o, "statechannel_versions_published_total", "State changes published (one version each).", ld(&m->patches_published));
    counter(o, "statechannel_patch_frames_sent_total", "Patch frames queued to subscribers.", ld(&m->patch_frames_sent));
    counter(o, "statechannel_full_states_sent_total", "Full-state frames built (joins, refresh, resync).", ld(&m->full_states_sent));
    counter(o, "statechannel_bytes_sent_total", "Bytes written to sockets.", ld(&s->outc.bytes_written));
    counter(o, "statechannel_frames_sent_total", "Frames written to sockets.", ld(&s->outc.frames_written));
    counter(o, "statechannel_frames_dropped_total", "Patch frames dropped for slow consumers.", ld(&s->outc.frames_dropped));
    counter(o, "statechannel_resyncs_total", "Full states scheduled to replace dropped patches.", ld(&s->outc.resyncs));
    counter(o, "statechannel_slow_clients_given_up_total", "Outbound queues abandoned past the hard cap.", ld(&s->outc.queues_dead));

    store_metrics(s, o);

    sbuf_puts(o, "# HELP statechannel_diff_seconds Time to diff a state after a change.\n"
                 "# TYPE statechannel_diff_seconds histogram\n");
    unsigned long long cum = 0;
    for (int b = 0; b < SC_DIFF_BUCKETS; b++) {
        cum += ld(&m->diff_bucket[b]);
        if (b < SC_DIFF_BUCKETS - 1)
            sbuf_printf(o, "statechannel_diff_seconds_bucket{le=\"%g\"} %llu\n", diff_bounds[b], cum);
        else
            sbuf_printf(o, "statechannel_diff_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    sbuf_printf(o, "statechannel_diff_seconds_sum %.6f\nstatechannel_diff_seconds_count %llu\n",
                (double)ld(&m->diff_usec_sum) / 1e6, ld(&m->diff_count));

    sbuf_puts(o, "# HELP statechannel_refusals_total Requests refused, by reason.\n"
                 "# TYPE statechannel_refusals_total counter\n");
    pthread_mutex_lock(&m->reason_mu);
    for (int i = 0; i < SC_MAX_REASONS && m->reason_names[i] != NULL; i++) {
        sbuf_puts(o, "statechannel_refusals_total{reason=\"");
        put_label(o, m->reason_names[i]);
        sbuf_printf(o, "\"} %llu\n", m->reason_counts[i]);
    }
    if (m->reason_other > 0)
        sbuf_printf(o, "statechannel_refusals_total{reason=\"other\"} %llu\n", m->reason_other);
    pthread_mutex_unlock(&m->reason_mu);

    sbuf_puts(o, "# HELP statechannel_closes_total Connections closed by the server, by close code.\n"
                 "# TYPE statechannel_closes_total counter\n");
    for (int i = 0; i < SC_CLOSE_SLOTS; i++) {
        unsigned long long v = ld(&m->closes_by_code[i]);
        if (v == 0)
            continue;
        if (i < SC_CLOSE_SLOTS - 1)
            sbuf_printf(o, "statechannel_closes_total{code=\"%d\"} %llu\n", 1000 + i, v);
        else
            sbuf_printf(o, "statechannel_closes_total{code=\"other\"} %llu\n", v);
    }
}

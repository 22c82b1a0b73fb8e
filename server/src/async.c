/*
 * async.c -- the timer thread (handler ticks) and the dispatch thread (sc_broadcast -> info).
 *
 * Timers live in one array under srv->timer_mu (at most SC_MAX_TIMERS per instance); the
 * thread sleeps until the earliest due time, collects due entries (reference to each instance
 * taken under timer_mu), then runs each tick under its instance's lock with no timer lock
 * held, so a tick may set or cancel timers. A scan is O(timers); fine for thousands.
 *
 * Broadcasts are queued (at most SC_MAX_PENDING_INFO) and delivered in order by one thread to
 * every instance of the topic, each under its own lock: an instance never receives its own
 * broadcast synchronously, and no lock is held across instances.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- timers ----------------------------------------------------------------------------------- */

static int timer_find(sc_server *s, sc_inst *in, const char *name)
{
    for (size_t i = 0; i < s->n_timers; i++)
        if (s->timers[i].inst == in && strcmp(s->timers[i].name, name) == 0)
            return (int)i;
    return -1;
}

int timer_set(sc_inst *in, const char *name, uint32_t ms, int repeat)
{
    sc_server *s = in->srv;
    pthread_mutex_lock(&s->timer_mu);
    int i = timer_find(s, in, name);
    if (i < 0) {
        if (in->n_timers >= SC_MAX_TIMERS || in->dead) {
            pthread_mutex_unlock(&s->timer_mu);
            return SC_FAIL;
        }
        if (s->n_timers == s->cap_timers) {
            size_t cap = s->cap_timers ? s->cap_timers * 2 : 16;
            sc_timer *g = realloc(s->timers, cap * sizeof *g);
            if (g == NULL) {
                pthread_mutex_unlock(&s->timer_mu);
                return SC_FAIL;
            }
            s->timers = g;
            s->cap_timers = cap;
        }
        i = (int)s->n_timers++;
        in->n_timers++;
    }
    sc_timer *t = &s->timers[i];
    t->inst = in;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ms = ms;
    t->repeat = repeat;
    t->due_ms = sc_clock_ms() + ms;
    t->gen = ++s->timer_gen;
    pthread_cond_signal(&s->timer_cv);
    pthread_mutex_unlock(&s->timer_mu);
    return SC_OK;
}

static void timer_remove_at(sc_server *s, size_t i)
{
    s->timers[i].inst->n_timers--;
    s->timers[i] = s->timers[--s->n_timers];
}

int timer_cancel(sc_inst *in, const char *name)
{
    sc_server *s = in->srv;
    pthread_mutex_lock(&s->timer_mu);
    int i = timer_find(s, in, name);
    if (i >= 0)
        timer_remove_at(s, (size_t)i);
    pthread_mutex_unlock(&s->timer_mu);
    return i >= 0 ? SC_OK : SC_FAIL;
}

void timers_cancel_inst(sc_inst *in)
{
    sc_server *s = in->srv;
    pthread_mutex_lock(&s->timer_mu);
    for (size_t i = 0; i < s->n_timers;) {
        if (s->timers[i].inst == in)
            timer_remove_at(s, i);
        else
            i++;
    }
    pthread_mutex_unlock(&s->timer_mu);
}

typedef struct due_tick {
    sc_inst *inst;
    char name[SC_MAX_TIMER_NAME + 1];
    uint64_t gen;
} due_tick;

/* Maximum ticks collected per wake-up; the rest run on the next pass (immediately). */
#define SC_TICK_BATCH 64

static void *timer_main(void *arg)
{
    sc_server *s = arg;
    pthread_mutex_lock(&s->timer_mu);
    while (!s->timer_stop) {
        int64_t now = sc_clock_ms(), next = now + 60000;
        due_tick due[SC_TICK_BATCH];
        size_t n = 0;
        for (size_t i = 0; i < s->n_timers && n < SC_TICK_BATCH;) {
            sc_timer *t = &s->timers[i];
            if (t->due_ms <= now) {
                inst_ref(t->inst);
                due[n].inst = t->inst;
                memcpy(due[n].name, t->name, sizeof due[n].name);
                due[n].gen = t->gen;
                n++;
                if (t->repeat) {
                    t->due_ms = now + t->ms;
                    i++;
                } else {
                    timer_remove_at(s, i);
                }
                continue;
            }
            if (t->due_ms < next)
                next = t->due_ms;
            i++;
        }
        if (n == 0) {
            struct timespec ts = sc_realtime_after_ms(next - now);
            pthread_cond_timedwait(&s->timer_cv, &s->timer_mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->timer_mu);
        for (size_t k = 0; k < n; k++) {
            sc_inst *in = due[k].inst;
            pthread_mutex_lock(&in->mu);
            if (!in->dead && in->created && in->pl->h.tick != NULL) {
                sc_ctx ctx;
                ctx_init(&ctx, s, in->pl, in, NULL, SC_CTX_TICK);
                int rc = in->pl->h.tick(&ctx, due[k].name);
                if (rc != SC_OK || ctx.failed)
                    inst_restore(in);
                else
                    inst_publish(in, &ctx);
                ctx_release(&ctx);
            }
            pthread_mutex_unlock(&in->mu);
            inst_unref(in);
        }
        pthread_mutex_lock(&s->timer_mu);
    }
    pthread_mutex_unlock(&s->timer_mu);
    return NULL;
}

/* ---- broadcasts ------------------------------------------------------------------------------- */

int info_enqueue(sc_server *s, const char *topic, const char *name, cJSON *payload)
{
    sc_info_msg *m = calloc(1, sizeof *m);
    if (m == NULL || (m->topic = strdup(topic)) == NULL || (m->name = strdup(name)) == NULL) {
        if (m != NULL) {
            free(m->topic);
            free(m);
        }
        cJSON_Delete(payload);
        return SC_FAIL;
    }
    m->payload = payload ? payload : cJSON_CreateObject();
    pthread_mutex_lock(&s->info_mu);
    if (s->info_len >= SC_MAX_PENDING_INFO || s->info_stop) {
        pthread_mutex_unlock(&s->info_mu);
        free(m->topic);
        free(m->name);
        cJSON_Delete(m->payload);
        free(m);
        metrics_refusal(&s->m, "broadcast_queue_full");
        return SC_FAIL;
    }
    if (s->info_tail != NULL)
        s->info_tail->next = m;
    else
        s->info_head = m;
    s->info_tail = m;
    s->info_len++;
    pthread_cond_signal(&s->info_cv);
    pthread_mutex_unlock(&s->info_mu);
    return SC_OK;
}

static void *info_main(void *arg)
{
    sc_server *s = arg;
    pthread_mutex_lock(&s->info_mu);
    for (;;) {
        while (s->info_head == NULL && !s->info_stop)
            pthread_cond_wait(&s->info_cv, &s->info_mu);
        if (s->info_head == NULL)
            break;
        sc_info_msg *m = s->info_head;
        s->info_head = m->next;
        if (s->info_head == NULL)
            s->info_tail = NULL;
        s->info_len--;
        pthread_mutex_unlock(&s->info_mu);

        size_t n = 0;
        sc_inst **all = inst_all_of_topic(s, m->topic, &n);
        for (size_t i = 0; i < n; i++) {
            sc_inst *in = all[i];
            pthread_mutex_lock(&in->mu);
            if (!in->dead && in->created && in->pl->h.info != NULL) {
                sc_ctx ctx;
                ctx_init(&ctx, s, in->pl, in, NULL, SC_CTX_INFO);
                int rc = in->pl->h.info(&ctx, m->name, m->payload);
                if (rc != SC_OK || ctx.failed)
                    inst_restore(in);
                else
                    inst_publish(in, &ctx);
                ctx_release(&ctx);
            }
            pthread_mutex_unlock(&in->mu);
            inst_unref(in);
        }
        free(all);
        free(m->topic);
        free(m->name);
        cJSON_Delete(m->payload);
        free(m);
        pthread_mutex_lock(&s->info_mu);
    }
    pthread_mutex_unlock(&s->info_mu);
    return NULL;
}

int async_start(sc_server *s)
{
    if (pthread_create(&s->timer_thread, NULL, timer_main, s) != 0)
        return -1;
    s->timer_started = 1;
    if (pthread_create(&s->info_thread, NULL, info_main, s) != 0)
        return -1;
    s->info_started = 1;
    return 0;
}

void async_stop(sc_server *s)
{
    if (s->info_started) {
        pthread_mutex_lock(&s->info_mu);
        s->info_stop = 1;
        pthread_cond_signal(&s->info_cv);
        pthread_mutex_unlock(&s->info_mu);
        pthread_join(s->info_thread, NULL);
        s->info_started = 0;
    }
    if (s->timer_started) {
        pthread_mutex_lock(&s->timer_mu);
        s->timer_stop = 1;
        pthread_cond_signal(&s->timer_cv);
        pthread_mutex_unlock(&s->timer_mu);
        pthread_join(s->timer_thread, NULL);
        s->timer_started = 0;
    }
}

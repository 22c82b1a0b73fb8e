/*
 * store_sqlite.c -- the store's SQLite backend: one file, <data>/statechannel.db, in WAL mode.
 *
 * Layout (schema version 1; docs/durability.md has the full schema):
 *   states(id, key, topic, owner, version, snap_version, snap_bytes, log_bytes, since_bytes)
 *   snapshots(state_id, json)          -- kept apart so that bumping a state's version, which
 *                                         happens on every commit, never rewrites the snapshot
 *   patches(state_id, version, bytes, patch)   -- the patch log, one row per version
 *   sessions(id, topic, state_key, last_op, last_seen)
 *   outcomes(session_id, op, ok, version, body) -- the last SC_STORE_OUTCOMES_KEPT per session
 * The current state of a key = its snapshot (at snap_version) + the patches snap_version+1 ..
 * version applied in order. Patches at or before snap_version are only kept for resumes.
 *
 * Writes (store thread only, one connection): a group of batches is one BEGIN IMMEDIATE ..
 * COMMIT. The writer keeps every state's bookkeeping row and every session's last op in a cache
 * across groups (see "The writer's cache"), so a batch of patches and outcomes (an event, an
 * op) is checked in memory and, if it passes, written with one INSERT per item and no
 * savepoint; any other batch runs in its own SAVEPOINT, so a batch that fails (a version gap,
 * an unknown key) has no effect either way. Per group, each state or session touched costs one
 * UPDATE (written back from the cache), and a state's log is cut once per 1/16 of its window:
 * O(log n) per statement. A snapshot is written
 * by the checkpoint policy after the group's completions ran (maintain()): when a state's log
 * since its snapshot reaches checkpoint_versions versions or more bytes than
 * max(checkpoint_min_bytes, the snapshot's size) -- so the snapshot I/O is amortized to at
 * most about the patch I/O, and recovery replays at most that much. The checkpoint replays
 * the log with sc_patch_apply(): O(state + log).
 *
 * Trimming keeps, per state, every patch after the snapshot (recovery needs them) plus the
 * newest ones within log_max_versions and log_max_bytes (the resume window), cut in steps of
 * SC_SQLITE_TRIM_FRACTION of it.
 *
 * Reads run on a second connection under a mutex, each in one read transaction, so they see
 * only committed groups and never block the writer (WAL).
 *
 * WAL upkeep: automatic checkpoints are off (they would run inside a commit, on the ack path);
 * maintain() runs a passive one when the WAL passes SC_SQLITE_WAL_CHECKPOINT_PAGES.
 *
 * Open-time checks: the data directory must accept a new file (probe), must not be held by
 * another process (lock file), the file must be a database that passes PRAGMA quick_check (or
 * integrity_check), and its schema must not be newer than this program's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <statechannel/patch.h>

#include "store_internal.h"

/* The schema this program writes. Bump it with a new entry in sc_sqlite_migrations. */
#define SC_SQLITE_SCHEMA_VERSION 1

/* Run a passive WAL checkpoint past this many WAL pages (4 MiB at 4 KiB pages): SQLite's own
 * default threshold, moved off the commit path. */
#define SC_SQLITE_WAL_CHECKPOINT_PAGES 1000

/* Truncate the WAL file back to this size after a checkpoint, so one burst does not keep a
 * huge file around. */
#define SC_SQLITE_JOURNAL_SIZE_LIMIT (64 * 1024 * 1024)

/* States whose checkpoint is due are remembered up to this many between two maintain() calls;
 * past it, a state waits for its next patch to be noticed again (bounded memory). */
#define SC_SQLITE_MAX_PENDING_CHECKPOINTS 1024

/* The writer's cache of bookkeeping rows (see "The writer's cache" below): buckets of its
 * hash tables (a power of two), and the entries of each kind past which it is dropped whole
 * between groups: more than the default --max-states, ~100-200 bytes each. */
#define SC_SQLITE_CACHE_BUCKETS 16384
#define SC_SQLITE_CACHE_MAX 131072

/* The log is trimmed in steps of 1/16 of the resume window (versions, or bytes below the
 * budget): one range delete per ~60 versions of a state instead of one per version, for at
 * most 1/16 more patches kept. */
#define SC_SQLITE_TRIM_FRACTION 16

/* Longest data directory path accepted (the file name and suffixes are added to it). */
#define SC_SQLITE_MAX_PATH 4000

/* Schema migrations: step i brings the schema from version i to version i + 1. Only ever
 * append; never edit a step that has shipped. */
static const struct {
    int version; /* the version this step produces */
    const char *sql;
} sc_sqlite_migrations[] = {
    {1, "CREATE TABLE states("
        "  id INTEGER PRIMARY KEY,"
        "  key TEXT NOT NULL UNIQUE,"
        "  topic TEXT NOT NULL,"
        "  owner TEXT,"                    /* owning session id; NULL for a topic's state */
        "  version INTEGER NOT NULL,"      /* current version */
        "  snap_version INTEGER NOT NULL," /* version of the snapshot */
        "  snap_bytes INTEGER NOT NULL,"   /* size of the snapshot */
        "  log_bytes INTEGER NOT NULL,"    /* bytes of every kept patch */
        "  since_bytes INTEGER NOT NULL);" /* bytes of the patches after the snapshot */
        "CREATE INDEX states_owner ON states(owner) WHERE owner IS NOT NULL;"
        "CREATE TABLE snapshots(state_id INTEGER PRIMARY KEY, json TEXT NOT NULL);"
        "CREATE TABLE patches(state_id INTEGER NOT NULL, version INTEGER NOT NULL,"
        "  bytes INTEGER NOT NULL, patch TEXT NOT NULL,"
        "  PRIMARY KEY(state_id, version)) WITHOUT ROWID;"
        "CREATE TABLE sessions(id TEXT NOT NULL PRIMARY KEY, topic TEXT NOT NULL,"
        "  state_key TEXT NOT NULL, last_op INTEGER NOT NULL, last_seen INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE INDEX sessions_last_seen ON sessions(last_seen);"
        "CREATE TABLE outcomes(session_id TEXT NOT NULL, op INTEGER NOT NULL,"
        "  ok INTEGER NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,"
        "  PRIMARY KEY(session_id, op)) WITHOUT ROWID;"},
};
#define SC_SQLITE_N_MIGRATIONS (sizeof sc_sqlite_migrations / sizeof sc_sqlite_migrations[0])

/* The writer's statements, prepared once at open. */
#define SC_SQLITE_WRITER_SQL(X)                                                                  \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                  \
    X(COMMIT, "COMMIT")                                                                          \
    X(ROLLBACK, "ROLLBACK")                                                                      \
    X(SAVEPOINT, "SAVEPOINT batch")                                                              \
    X(RELEASE, "RELEASE batch")                                                                  \
    X(ROLLBACK_TO, "ROLLBACK TO batch")                                                          \
    X(STATE_GET, "SELECT id, version, snap_version, snap_bytes, log_bytes, since_bytes "         \
                 "FROM states WHERE key = ?1")                                                   \
    X(STATE_GET_ID, "SELECT id, version, snap_version, snap_bytes, log_bytes, since_bytes, key " \
                    "FROM states WHERE id = ?1")                                                 \
    X(STATE_INS, "INSERT INTO states(key, topic, owner, version, snap_version, snap_bytes, "     \
                 "log_bytes, since_bytes) VALUES(?1, ?2, ?3, ?4, ?4, ?5, 0, 0)")                 \
    X(STATE_UPD, "UPDATE states SET version = ?2, snap_version = ?3, snap_bytes = ?4, "          \
                 "log_bytes = ?5, since_bytes = ?6 WHERE id = ?1")                               \
    X(STATE_META, "UPDATE states SET topic = ?2, owner = ?3 WHERE id = ?1")                      \
    X(STATE_DEL, "DELETE FROM states WHERE id = ?1")                                             \
    X(SNAP_PUT, "INSERT OR REPLACE INTO snapshots(state_id, json) VALUES(?1, ?2)")               \
    X(SNAP_GET, "SELECT json FROM snapshots WHERE state_id = ?1")                                \
    X(SNAP_DEL, "DELETE FROM snapshots WHERE state_id = ?1")                                     \
    X(PATCH_INS, "INSERT INTO patches(state_id, version, bytes, patch) VALUES(?1, ?2, ?3, ?4)")  \
    X(PATCH_MIN, "SELECT min(version) FROM patches WHERE state_id = ?1")                         \
    X(PATCH_CUT, "DELETE FROM patches WHERE state_id = ?1 AND version <= ?2 RETURNING bytes")    \
    X(PATCH_OLDEST, "SELECT version, bytes FROM patches WHERE state_id = ?1 AND version <= ?2 "  \
                    "ORDER BY version")                                                          \
    X(PATCH_SINCE, "SELECT version, patch FROM patches WHERE state_id = ?1 AND version > ?2 "    \
                   "ORDER BY version")                                                           \
    X(PATCH_DEL_ALL, "DELETE FROM patches WHERE state_id = ?1")                                  \
    X(SESS_PUT, "INSERT INTO sessions(id, topic, state_key, last_op, last_seen) "                \
                "VALUES(?1, ?2, ?3, 0, ?4) ON CONFLICT(id) DO UPDATE SET "                       \
                "last_seen = max(last_seen, excluded.last_seen)")                                \
    X(SESS_OP, "SELECT last_op FROM sessions WHERE id = ?1")                                     \
    X(SESS_SET_OP, "UPDATE sessions SET last_op = ?2 WHERE id = ?1")                             \
    X(OUT_INS, "INSERT OR REPLACE INTO outcomes(session_id, op, ok, version, body) "             \
               "VALUES(?1, ?2, ?3, ?4, ?5)")                                                     \
    X(OUT_CUT, "DELETE FROM outcomes WHERE session_id = ?1 AND op <= ?2")                        \
    X(DROP_S_OUT, "DELETE FROM outcomes WHERE session_id = ?1")                                  \
    X(DROP_S_PATCH, "DELETE FROM patches WHERE state_id IN "                                     \
                    "(SELECT id FROM states WHERE owner = ?1)")                                  \
    X(DROP_S_SNAP, "DELETE FROM snapshots WHERE state_id IN "                                    \
                   "(SELECT id FROM states WHERE owner = ?1)")                                   \
    X(DROP_S_STATE, "DELETE FROM states WHERE owner = ?1")                                       \
    X(DROP_S_SESS, "DELETE FROM sessions WHERE id = ?1")                                         \
    X(EXP_OUT, "DELETE FROM outcomes WHERE session_id IN "                                       \
               "(SELECT id FROM sessions WHERE last_seen < ?1)")                                 \
    X(EXP_PATCH, "DELETE FROM patches WHERE state_id IN (SELECT s.id FROM states s "             \
                 "JOIN sessions x ON s.owner = x.id WHERE x.last_seen < ?1)")                    \
    X(EXP_SNAP, "DELETE FROM snapshots WHERE state_id IN (SELECT s.id FROM states s "            \
                "JOIN sessions x ON s.owner = x.id WHERE x.last_seen < ?1)")                     \
    X(EXP_STATE, "DELETE FROM states WHERE owner IN "                                            \
                 "(SELECT id FROM sessions WHERE last_seen < ?1)")                               \
    X(EXP_SESS, "DELETE FROM sessions WHERE last_seen < ?1")

enum {
#define SC_SQLITE_W_ENUM_(name, sql) W_##name,
    SC_SQLITE_WRITER_SQL(SC_SQLITE_W_ENUM_)
#undef SC_SQLITE_W_ENUM_
    W_COUNT_
};

static const char *const sc_sqlite_writer_sql[] = {
#define SC_SQLITE_W_SQL_(name, sql) sql,
    SC_SQLITE_WRITER_SQL(SC_SQLITE_W_SQL_)
#undef SC_SQLITE_W_SQL_
};

/* The reader's statements, prepared once at open. */
#define SC_SQLITE_READER_SQL(X)                                                                  \
    X(BEGIN, "BEGIN")                                                                            \
    X(COMMIT, "COMMIT")                                                                          \
    X(STATES_ALL, "SELECT s.id, s.key, s.topic, s.owner, s.version, s.snap_version, n.json "     \
                  "FROM states s JOIN snapshots n ON n.state_id = s.id ORDER BY s.key")          \
    X(STATES_ONE, "SELECT s.id, s.key, s.topic, s.owner, s.version, s.snap_version, n.json "     \
                  "FROM states s JOIN snapshots n ON n.state_id = s.id WHERE s.key = ?1")        \
    X(PATCH_SINCE, "SELECT version, patch FROM patches WHERE state_id = ?1 AND version > ?2 "    \
                   "ORDER BY version")                                                           \
    X(LOG_HEAD, "SELECT id, version FROM states WHERE key = ?1")                                 \
    X(SESS_ALL, "SELECT id, topic, state_key, last_op, last_seen FROM sessions ORDER BY id")     \
    X(SESS_ONE, "SELECT id, topic, state_key, last_op, last_seen FROM sessions WHERE id = ?1")   \
    X(OUTCOMES, "SELECT op, ok, version, body FROM outcomes WHERE session_id = ?1 ORDER BY op")

enum {
#define SC_SQLITE_R_ENUM_(name, sql) R_##name,
    SC_SQLITE_READER_SQL(SC_SQLITE_R_ENUM_)
#undef SC_SQLITE_R_ENUM_
    R_COUNT_
};

static const char *const sc_sqlite_reader_sql[] = {
#define SC_SQLITE_R_SQL_(name, sql) sql,
    SC_SQLITE_READER_SQL(SC_SQLITE_R_SQL_)
#undef SC_SQLITE_R_SQL_
};

typedef struct row_cache row_cache;

/* Lifecycle: opened by sc_store_sqlite_open(), written by the store thread only, read under
 * read_mu by any thread, closed by sqlite_close() after the store thread exited. */
typedef struct sqlite_be {
    sqlite3 *db;                  /* writer connection: the store thread's */
    sqlite3_stmt *w[W_COUNT_];    /* its statements */
    sqlite3 *rdb;                 /* reader connection, under read_mu */
    sqlite3_stmt *r[R_COUNT_];    /* its statements, under read_mu */
    pthread_mutex_t read_mu;      /* serializes readers (one connection, multi-step reads) */
    const sc_store_options *opts; /* the store's, outlives the backend */
    sc_store_counters *counters;  /* the store's */
    int lock_fd;                  /* holds the data directory's lock file; -1 when none */
    int wal_pages;                /* WAL size reported by the last commit (wal hook) */
    int64_t pending[SC_SQLITE_MAX_PENDING_CHECKPOINTS]; /* state ids due for a checkpoint */
    size_t n_pending;
    row_cache *cache;             /* the writer's bookkeeping rows (store thread) */
    char path[SC_SQLITE_MAX_PATH + 64]; /* <data>/statechannel.db */
} sqlite_be;

/* A state's bookkeeping row. */
typedef struct state_row {
    int64_t id;
    uint64_t version, snap_version, snap_bytes, log_bytes, since_bytes;
} state_row;

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */

static sc_store_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return SC_STORE_OK;
    case SQLITE_NOMEM: return SC_STORE_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return SC_STORE_ECORRUPT;
    case SQLITE_FULL: return SC_STORE_EFULL;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY: return SC_STORE_EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return SC_STORE_EBUSY;
    default: return SC_STORE_ESQL;
    }
}

/* Fills err from the last SQLite error on db; what says what was being done. */
static sc_store_status db_fail(sc_store_error *err, sqlite3 *db, int rc, const char *path,
                               const char *what)
{
    sc_store_status st = status_of(rc);
    if (st == SC_STORE_OK)
        st = SC_STORE_ESQL;
    const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (st == SC_STORE_ECORRUPT)
        return sc_store_fail(err, st, rc,
                             "%s: %s: %s (%s); refusing to use it: restore a backup or move the "
                             "file aside",
                             path, what, msg, sqlite3_errstr(rc));
    return sc_store_fail(err, st, rc, "%s: %s: %s", path, what, msg);
}

/* ---------------------------------------------------------------------------------------------
 * Small statement helpers
 * ------------------------------------------------------------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *s, size_t n)
{
    if (s == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text64(st, i, s, (sqlite3_uint64)n, SQLITE_STATIC, SQLITE_UTF8);
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    bind_text(st, i, s, s != NULL ? strlen(s) : 0);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
    sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
    sqlite3_int64 v = sqlite3_column_int64(st, i);
    return v < 0 ? 0 : (uint64_t)v;
}

/* Steps a statement that returns no rows to completion and resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void done_with(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* ---------------------------------------------------------------------------------------------
 * Replay: snapshot + patches -> current state
 * ------------------------------------------------------------------------------------------- */

/* Applies the rows (version, patch) of the stepped-once statement rows to snapshot (JSON text
 * at snap_version), checking that versions are contiguous and end at want. rc is the result of
 * the first sqlite3_step(rows). On success *out is a new compact JSON text (caller frees with
 * cJSON_free()). Cost: parse + O(patches) + print: the state is an sc_doc, whose kept indexes
 * spare each patch a walk of the large arrays and objects it lands in, and each parsed patch
 * gives its values to the state (sc_doc_apply_take) instead of having them copied. */
static sc_store_status replay(const char *key, const char *snapshot, size_t snap_len,
                              uint64_t snap_version, sqlite3_stmt *rows, int rc, uint64_t want,
                              char **out, sc_store_error *err)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(snapshot, snap_len);
    if (root == NULL)
        return sc_store_fail(err, SC_STORE_EREPLAY, 0,
                             "state %s: the snapshot at version %llu is not valid JSON", key,
                             (unsigned long long)snap_version);
    sc_doc *doc = sc_doc_new(root, NULL);
    if (doc == NULL) {
        cJSON_Delete(root);
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "state %s: out of memory replaying", key);
    }
    uint64_t at = snap_version;
    sc_store_status st = SC_STORE_OK;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(rows)) {
        uint64_t v = col_u64(rows, 0);
        if (v != at + 1) {
            st = sc_store_fail(err, SC_STORE_EREPLAY, 0,
                               "state %s: the log jumps from version %llu to %llu", key,
                               (unsigned long long)at, (unsigned long long)v);
            goto out;
        }
        const char *text = (const char *)sqlite3_column_text(rows, 1);
        int n = sqlite3_column_bytes(rows, 1);
        cJSON *patch = text != NULL ? cJSON_ParseWithLength(text, (size_t)n) : NULL;
        sc_patch_error perr;
        memset(&perr, 0, sizeof perr);
        sc_patch_status ps = patch != NULL ? sc_doc_apply_take(doc, patch, &perr) : SC_PATCH_EINVAL;
        cJSON_Delete(patch);
        if (ps != SC_PATCH_OK) {
            char line[256];
            if (patch == NULL)
                snprintf(line, sizeof line, "the patch is not valid JSON");
            else
                sc_patch_error_format(&perr, line, sizeof line);
            st = sc_store_fail(err, ps == SC_PATCH_ENOMEM ? SC_STORE_ENOMEM : SC_STORE_EREPLAY, 0,
                               "state %s: the patch of version %llu does not apply: %s", key,
                               (unsigned long long)v, line);
            goto out;
        }
        at = v;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(err, sqlite3_db_handle(rows), rc, key, "reading the patch log");
        goto out;
    }
    if (at != want) {
        st = sc_store_fail(err, SC_STORE_EREPLAY, 0,
                           "state %s: the log ends at version %llu, the state is at %llu", key,
                           (unsigned long long)at, (unsigned long long)want);
        goto out;
    }
    *out = cJSON_PrintUnformatted(sc_doc_root(doc));
    if (*out == NULL)
        st = sc_store_fail(err, SC_STORE_ENOMEM, 0, "state %s: out of memory printing it", key);
out:
    sc_doc_free(doc);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writer: one item at a time, inside the batch's savepoint
 * ------------------------------------------------------------------------------------------- */

/* Reads the bookkeeping row of key (by key, or by id when key is NULL). Returns SQLITE_ROW
 * when found, SQLITE_DONE when absent, or an error code. */
static int state_get(sqlite_be *be, const char *key, int64_t id, state_row *row)
{
    sqlite3_stmt *st = be->w[key != NULL ? W_STATE_GET : W_STATE_GET_ID];
    if (key != NULL)
        bind_str(st, 1, key);
    else
        sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row->id = sqlite3_column_int64(st, 0);
        row->version = col_u64(st, 1);
        row->snap_version = col_u64(st, 2);
        row->snap_bytes = col_u64(st, 3);
        row->log_bytes = col_u64(st, 4);
        row->since_bytes = col_u64(st, 5);
    }
    done_with(st);
    return rc;
}

static int state_put(sqlite_be *be, const state_row *row)
{
    sqlite3_stmt *st = be->w[W_STATE_UPD];
    sqlite3_bind_int64(st, 1, row->id);
    bind_u64(st, 2, row->version);
    bind_u64(st, 3, row->snap_version);
    bind_u64(st, 4, row->snap_bytes);
    bind_u64(st, 5, row->log_bytes);
    bind_u64(st, 6, row->since_bytes);
    return run(st);
}

/* Deletes the patches at or before cut; subtracts their bytes from row->log_bytes. */
static int cut_log(sqlite_be *be, state_row *row, uint64_t cut)
{
    sqlite3_stmt *st = be->w[W_PATCH_CUT];
    sqlite3_bind_int64(st, 1, row->id);
    bind_u64(st, 2, cut);
    int rc;
    uint64_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t b = col_u64(st, 0);
        row->log_bytes = row->log_bytes > b ? row->log_bytes - b : 0;
        n++;
    }
    done_with(st);
    if (n > 0)
        atomic_fetch_add(&be->counters->trimmed, n);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Trims the log of row to the resume window, never past the snapshot (see the top), in steps:
 * *kept_from is the oldest kept version (0: the log is empty), and the version rule deletes
 * only once at least log_max_versions / SC_SQLITE_TRIM_FRACTION patches fell out of the
 * window; over the byte budget it cuts to 1 / SC_SQLITE_TRIM_FRACTION below it. */
static int trim_log(sqlite_be *be, state_row *row, uint64_t *kept_from)
{
    const sc_store_options *o = be->opts;
    uint64_t step = o->log_max_versions / SC_SQLITE_TRIM_FRACTION;
    step = step > 0 ? step : 1;
    uint64_t cut = row->version > o->log_max_versions ? row->version - o->log_max_versions : 0;
    if (cut > row->snap_version)
        cut = row->snap_version;
    int rc = SQLITE_OK;
    if (*kept_from > 0 && cut >= *kept_from && cut - *kept_from + 1 >= step) {
        rc = cut_log(be, row, cut);
        *kept_from = cut < row->version ? cut + 1 : 0;
    }
    if (rc != SQLITE_OK || row->log_bytes <= o->log_max_bytes)
        return rc;
    /* Over the byte budget: find the newest version whose removal (with all older ones)
     * brings the log under it. O(patches before the snapshot), only when over budget. */
    uint64_t target = o->log_max_bytes - o->log_max_bytes / SC_SQLITE_TRIM_FRACTION;
    sqlite3_stmt *st = be->w[W_PATCH_OLDEST];
    sqlite3_bind_int64(st, 1, row->id);
    bind_u64(st, 2, row->snap_version);
    uint64_t excess = row->log_bytes - target, freed = 0;
    cut = 0;
    while (freed < excess && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cut = col_u64(st, 0);
        freed += col_u64(st, 1);
    }
    if (freed < excess && rc != SQLITE_DONE) {
        done_with(st);
        return rc;
    }
    done_with(st);
    if (cut == 0)
        return SQLITE_OK;
    *kept_from = cut < row->version ? cut + 1 : 0;
    return cut_log(be, row, cut);
}

static int checkpoint_due(const sqlite_be *be, const state_row *row)
{
    uint64_t floor = be->opts->checkpoint_min_bytes > row->snap_bytes
                         ? be->opts->checkpoint_min_bytes
                         : row->snap_bytes;
    return row->version - row->snap_version >= be->opts->checkpoint_versions ||
           row->since_bytes > floor;
}

static void remember_due(sqlite_be *be, int64_t id)
{
    for (size_t i = 0; i < be->n_pending; i++)
        if (be->pending[i] == id)
            return;
    if (be->n_pending < SC_SQLITE_MAX_PENDING_CHECKPOINTS)
        be->pending[be->n_pending++] = id;
}

/* ---------------------------------------------------------------------------------------------
 * The writer's cache of bookkeeping rows (store thread only)
 *
 * A state's row (versions, sizes, oldest kept patch) and a session's last op are read from the
 * tables once, then kept here across groups: the tables are written only by this thread, so
 * the cache is exact as long as every write goes through it. Items update the cache and mark
 * the entry dirty; the group writes each dirty entry back once (flush_dirty: trim, one UPDATE),
 * at its end or before a batch that needs a savepoint. When a group or a savepointed batch is
 * rolled back, or past SC_SQLITE_CACHE_MAX entries (checked between groups), the cache is
 * dropped whole and refilled from the tables on demand.
 * ------------------------------------------------------------------------------------------- */

typedef struct state_ent {
    struct state_ent *hnext; /* bucket chain */
    struct state_ent *dnext; /* the dirty list, while dirty */
    state_row row;           /* the row as of the items applied so far */
    uint64_t kept_from;      /* oldest patch version in the log; 0: the log is empty */
    uint64_t t_version;      /* check_batch(): the version after the batch's items so far */
    uint64_t stamp;          /* the check_batch() pass t_version belongs to */
    int dirty;               /* row differs from the table's: written by flush_dirty() */
    char key[];              /* NUL-terminated */
} state_ent;

typedef struct sess_ent {
    struct sess_ent *hnext, *dnext;
    uint64_t last_op;   /* last consumed op, including the ones not yet written back */
    uint64_t stored_op; /* last_op as in the sessions table */
    uint64_t t_op;      /* check_batch(): the last op after the batch's items so far */
    uint64_t stamp;
    int dirty;
    char id[];
} sess_ent;

struct row_cache {
    state_ent *states[SC_SQLITE_CACHE_BUCKETS];
    sess_ent *sessions[SC_SQLITE_CACHE_BUCKETS];
    size_t n_states, n_sessions;
    state_ent *dirty_states; /* linked by dnext */
    sess_ent *dirty_sessions;
    uint64_t stamp; /* bumped by every check_batch() */
};

static size_t cache_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h & (SC_SQLITE_CACHE_BUCKETS - 1));
}

/* Forgets every entry (dirty ones too: callers write them back first, or are rolling back). */
static void cache_clear(row_cache *c)
{
    for (size_t i = 0; i < SC_SQLITE_CACHE_BUCKETS; i++) {
        for (state_ent *e = c->states[i], *n; e != NULL; e = n) {
            n = e->hnext;
            free(e);
        }
        for (sess_ent *e = c->sessions[i], *n; e != NULL; e = n) {
            n = e->hnext;
            free(e);
        }
        c->states[i] = NULL;
        c->sessions[i] = NULL;
    }
    c->n_states = c->n_sessions = 0;
    c->dirty_states = NULL;
    c->dirty_sessions = NULL;
}

/* Forgets the entry of state key, if any (its row was changed or deleted behind the cache). */
static void cache_evict_state(row_cache *c, const char *key)
{
    for (state_ent **pp = &c->states[cache_hash(key)]; *pp != NULL; pp = &(*pp)->hnext) {
        state_ent *e = *pp;
        if (strcmp(e->key, key) != 0)
            continue;
        *pp = e->hnext;
        if (e->dirty)
            for (state_ent **dp = &c->dirty_states; *dp != NULL; dp = &(*dp)->dnext)
                if (*dp == e) {
                    *dp = e->dnext;
                    break;
                }
        free(e);
        c->n_states--;
        return;
    }
}

/* The entry of state key, read from the tables when not cached. Returns SQLITE_ROW with *out,
 * SQLITE_DONE when there is no such state, or an error code. */
static int cache_state(sqlite_be *be, const char *key, state_ent **out)
{
    row_cache *c = be->cache;
    size_t h = cache_hash(key);
    for (state_ent *e = c->states[h]; e != NULL; e = e->hnext)
        if (strcmp(e->key, key) == 0) {
            *out = e;
            return SQLITE_ROW;
        }
    state_row row;
    int rc = state_get(be, key, 0, &row);
    if (rc != SQLITE_ROW)
        return rc;
    sqlite3_stmt *st = be->w[W_PATCH_MIN];
    sqlite3_bind_int64(st, 1, row.id);
    rc = sqlite3_step(st);
    uint64_t kept_from = rc == SQLITE_ROW ? col_u64(st, 0) : 0; /* NULL (no patch): 0 */
    done_with(st);
    if (rc != SQLITE_ROW)
        return rc;
    size_t klen = strlen(key);
    state_ent *e = calloc(1, sizeof *e + klen + 1);
    if (e == NULL)
        return SQLITE_NOMEM;
    memcpy(e->key, key, klen + 1);
    e->row = row;
    e->kept_from = kept_from;
    e->hnext = c->states[h];
    c->states[h] = e;
    c->n_states++;
    *out = e;
    return SQLITE_ROW;
}

/* The entry of session id, as cache_state(). */
static int cache_session(sqlite_be *be, const char *id, sess_ent **out)
{
    row_cache *c = be->cache;
    size_t h = cache_hash(id);
    for (sess_ent *e = c->sessions[h]; e != NULL; e = e->hnext)
        if (strcmp(e->id, id) == 0) {
            *out = e;
            return SQLITE_ROW;
        }
    sqlite3_stmt *st = be->w[W_SESS_OP];
    bind_str(st, 1, id);
    int rc = sqlite3_step(st);
    uint64_t last_op = rc == SQLITE_ROW ? col_u64(st, 0) : 0;
    done_with(st);
    if (rc != SQLITE_ROW)
        return rc;
    size_t n = strlen(id);
    sess_ent *e = calloc(1, sizeof *e + n + 1);
    if (e == NULL)
        return SQLITE_NOMEM;
    memcpy(e->id, id, n + 1);
    e->last_op = e->stored_op = last_op;
    e->hnext = c->sessions[h];
    c->sessions[h] = e;
    c->n_sessions++;
    *out = e;
    return SQLITE_ROW;
}

static void mark_state(row_cache *c, state_ent *e)
{
    if (!e->dirty) {
        e->dirty = 1;
        e->dnext = c->dirty_states;
        c->dirty_states = e;
    }
}

static void mark_session(row_cache *c, sess_ent *e)
{
    if (!e->dirty) {
        e->dirty = 1;
        e->dnext = c->dirty_sessions;
        c->dirty_sessions = e;
    }
}

/* Writes every dirty entry back: per state a trim and one UPDATE (and a checkpoint noted when
 * due), per session one UPDATE of its last op and one range delete of the outcomes older than
 * the last SC_STORE_OUTCOMES_KEPT. */
static sc_store_status flush_dirty(sqlite_be *be, sc_store_error *err)
{
    row_cache *c = be->cache;
    int rc;
    while (c->dirty_states != NULL) {
        state_ent *e = c->dirty_states;
        c->dirty_states = e->dnext;
        e->dirty = 0;
        if ((rc = trim_log(be, &e->row, &e->kept_from)) != SQLITE_OK ||
            (rc = state_put(be, &e->row)) != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "updating a state");
        if (checkpoint_due(be, &e->row))
            remember_due(be, e->row.id);
    }
    while (c->dirty_sessions != NULL) {
        sess_ent *e = c->dirty_sessions;
        c->dirty_sessions = e->dnext;
        e->dirty = 0;
        if (e->last_op == e->stored_op)
            continue;
        sqlite3_stmt *st = be->w[W_SESS_SET_OP];
        bind_str(st, 1, e->id);
        bind_u64(st, 2, e->last_op);
        if ((rc = run(st)) != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "writing a session");
        if (e->last_op > SC_STORE_OUTCOMES_KEPT) {
            st = be->w[W_OUT_CUT];
            bind_str(st, 1, e->id);
            bind_u64(st, 2, e->last_op - SC_STORE_OUTCOMES_KEPT);
            if ((rc = run(st)) != SQLITE_OK)
                return db_fail(err, be->db, rc, be->path, "trimming op outcomes");
        }
        e->stored_op = e->last_op;
    }
    return SC_STORE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Writer: items
 * ------------------------------------------------------------------------------------------- */

static sc_store_status no_state(sc_store_error *err, const char *key)
{
    return sc_store_fail(err, SC_STORE_ENOTFOUND, 0,
                         "patch for state %s: no such state (send its snapshot first)", key);
}

static sc_store_status patch_gap(sc_store_error *err, const char *key, uint64_t v, uint64_t at)
{
    return sc_store_fail(err, SC_STORE_ESEQ, 0,
                         "patch for state %s: version %llu does not follow the stored %llu", key,
                         (unsigned long long)v, (unsigned long long)at);
}

static sc_store_status no_session(sc_store_error *err, const char *id, uint64_t op)
{
    return sc_store_fail(err, SC_STORE_ENOTFOUND, 0, "outcome of op %llu: no session %s",
                         (unsigned long long)op, id);
}

static sc_store_status op_gap(sc_store_error *err, const char *id, uint64_t op, uint64_t last)
{
    return sc_store_fail(err, SC_STORE_ESEQ, 0,
                         "session %s: op %llu does not follow the last consumed op %llu", id,
                         (unsigned long long)op, (unsigned long long)last);
}

static sc_store_status item_patch(sqlite_be *be, const sc_store_item *it, sc_store_error *err)
{
    state_ent *e;
    int rc = cache_state(be, it->key, &e);
    if (rc == SQLITE_DONE)
        return no_state(err, it->key);
    if (rc != SQLITE_ROW)
        return db_fail(err, be->db, rc, be->path, "reading a state");
    state_row *row = &e->row;
    if (it->version != row->version + 1)
        return patch_gap(err, it->key, it->version, row->version);
    sqlite3_stmt *st = be->w[W_PATCH_INS];
    sqlite3_bind_int64(st, 1, row->id);
    bind_u64(st, 2, it->version);
    bind_u64(st, 3, it->len);
    bind_text(st, 4, it->data, it->len);
    if ((rc = run(st)) != SQLITE_OK)
        return db_fail(err, be->db, rc, be->path, "writing a patch");
    row->version = it->version;
    row->log_bytes += it->len;
    row->since_bytes += it->len;
    if (e->kept_from == 0)
        e->kept_from = it->version;
    mark_state(be->cache, e);
    return SC_STORE_OK;
}

static sc_store_status item_outcome(sqlite_be *be, const sc_store_item *it, sc_store_error *err)
{
    sess_ent *e;
    int rc = cache_session(be, it->key, &e);
    if (rc == SQLITE_DONE)
        return no_session(err, it->key, it->op);
    if (rc != SQLITE_ROW)
        return db_fail(err, be->db, rc, be->path, "reading a session");
    if (it->op != e->last_op + 1)
        return op_gap(err, it->key, it->op, e->last_op);
    sqlite3_stmt *st = be->w[W_OUT_INS];
    bind_str(st, 1, it->key);
    bind_u64(st, 2, it->op);
    sqlite3_bind_int(st, 3, it->ok);
    bind_u64(st, 4, it->version);
    bind_text(st, 5, it->data, it->len);
    if ((rc = run(st)) != SQLITE_OK)
        return db_fail(err, be->db, rc, be->path, "writing an op outcome");
    e->last_op = it->op;
    mark_session(be->cache, e);
    return SC_STORE_OK;
}

static int snapshot_put(sqlite_be *be, int64_t id, const char *json, size_t len)
{
    sqlite3_stmt *st = be->w[W_SNAP_PUT];
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, json, len);
    return run(st);
}

static sc_store_status item_snapshot(sqlite_be *be, const sc_store_item *it, sc_store_error *err)
{
    state_ent *e;
    int rc = cache_state(be, it->key, &e);
    if (rc == SQLITE_DONE) {
        sqlite3_stmt *st = be->w[W_STATE_INS];
        bind_str(st, 1, it->key);
        bind_str(st, 2, it->topic);
        bind_str(st, 3, it->owner);
        bind_u64(st, 4, it->version);
        bind_u64(st, 5, it->len);
        if ((rc = run(st)) != SQLITE_OK ||
            (rc = snapshot_put(be, sqlite3_last_insert_rowid(be->db), it->data, it->len)) !=
                SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "creating a state");
        return SC_STORE_OK;
    }
    if (rc != SQLITE_ROW)
        return db_fail(err, be->db, rc, be->path, "reading a state");
    state_row *row = &e->row;
    if (it->version < row->version)
        return sc_store_fail(err, SC_STORE_ESEQ, 0,
                             "snapshot of state %s: version %llu is older than the stored %llu",
                             it->key, (unsigned long long)it->version,
                             (unsigned long long)row->version);
    if (it->version > row->version) {
        /* The old log does not lead to this version: drop it. */
        sqlite3_stmt *st = be->w[W_PATCH_DEL_ALL];
        sqlite3_bind_int64(st, 1, row->id);
        if ((rc = run(st)) != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "dropping a log");
        row->log_bytes = 0;
        e->kept_from = 0;
    }
    row->version = row->snap_version = it->version;
    row->snap_bytes = it->len;
    row->since_bytes = 0;
    sqlite3_stmt *st = be->w[W_STATE_META];
    sqlite3_bind_int64(st, 1, row->id);
    bind_str(st, 2, it->topic);
    bind_str(st, 3, it->owner);
    if ((rc = run(st)) != SQLITE_OK || (rc = snapshot_put(be, row->id, it->data, it->len)) != SQLITE_OK)
        return db_fail(err, be->db, rc, be->path, "writing a snapshot");
    mark_state(be->cache, e); /* trim and row written by flush_dirty() */
    return SC_STORE_OK;
}

static sc_store_status item_drop_state(sqlite_be *be, const sc_store_item *it, sc_store_error *err)
{
    cache_evict_state(be->cache, it->key);
    state_row row;
    int rc = state_get(be, it->key, 0, &row);
    if (rc == SQLITE_DONE)
        return SC_STORE_OK;
    if (rc != SQLITE_ROW)
        return db_fail(err, be->db, rc, be->path, "reading a state");
    static const int stmts[] = {W_PATCH_DEL_ALL, W_SNAP_DEL, W_STATE_DEL};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        sqlite3_stmt *st = be->w[stmts[i]];
        sqlite3_bind_int64(st, 1, row.id);
        if ((rc = run(st)) != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "dropping a state");
    }
    return SC_STORE_OK;
}

static sc_store_status item_session(sqlite_be *be, const sc_store_item *it, sc_store_error *err)
{
    sqlite3_stmt *st = be->w[W_SESS_PUT];
    bind_str(st, 1, it->key);
    bind_str(st, 2, it->topic);
    bind_str(st, 3, it->owner);
    sqlite3_bind_int64(st, 4, it->time);
    int rc = run(st);
    return rc == SQLITE_OK ? SC_STORE_OK : db_fail(err, be->db, rc, be->path, "writing a session");
}

/* Runs the statements of a session deletion (by id) or an expiry (by cutoff time). They
 * delete rows the cache may hold (the sessions, the states they own): it is written back
 * and dropped first. */
static sc_store_status delete_sessions(sqlite_be *be, const int *stmts, size_t n, const char *id,
                                       int64_t cutoff, size_t *count, sc_store_error *err)
{
    sc_store_status fst = flush_dirty(be, err);
    if (fst != SC_STORE_OK)
        return fst;
    cache_clear(be->cache);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = be->w[stmts[i]];
        if (id != NULL)
            bind_str(st, 1, id);
        else
            sqlite3_bind_int64(st, 1, cutoff);
        int rc = run(st);
        if (rc != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, "deleting sessions");
    }
    if (count != NULL)
        *count = (size_t)sqlite3_changes64(be->db); /* the last statement deletes the sessions */
    return SC_STORE_OK;
}

static sc_store_status apply_item(sqlite_be *be, sc_store_batch *b, const sc_store_item *it)
{
    static const int drop[] = {W_DROP_S_OUT, W_DROP_S_PATCH, W_DROP_S_SNAP, W_DROP_S_STATE,
                               W_DROP_S_SESS};
    static const int expire[] = {W_EXP_OUT, W_EXP_PATCH, W_EXP_SNAP, W_EXP_STATE, W_EXP_SESS};
    sc_store_error *err = &b->result;
    switch (it->kind) {
    case SC_ITEM_SNAPSHOT: return item_snapshot(be, it, err);
    case SC_ITEM_PATCH: return item_patch(be, it, err);
    case SC_ITEM_DROP_STATE: return item_drop_state(be, it, err);
    case SC_ITEM_SESSION: return item_session(be, it, err);
    case SC_ITEM_OUTCOME: return item_outcome(be, it, err);
    case SC_ITEM_DROP_SESSION:
        return delete_sessions(be, drop, sizeof drop / sizeof drop[0], it->key, 0, NULL, err);
    case SC_ITEM_EXPIRE: {
        size_t n = 0;
        sc_store_status st =
            delete_sessions(be, expire, sizeof expire / sizeof expire[0], NULL, it->time, &n, err);
        if (st == SC_STORE_OK && b->expired_out != NULL)
            *b->expired_out += n;
        return st;
    }
    }
    return sc_store_fail(err, SC_STORE_EARG, 0, "unknown batch item");
}

/* ---------------------------------------------------------------------------------------------
 * Writer: batches and groups
 * ------------------------------------------------------------------------------------------- */

/* A batch of patches and op outcomes only (what an event or an op makes) needs no savepoint:
 * its sequence rules are checked against the cache before anything is written, so a batch
 * that would fail is refused with no effect, and one that passes cannot fail on its rules.
 * Returns 1 for such a batch, 0 for one that needs a savepoint. */
static int plain_batch(const sc_store_batch *b)
{
    for (const sc_store_item *it = b->head; it != NULL; it = it->next)
        if (it->kind != SC_ITEM_PATCH && it->kind != SC_ITEM_OUTCOME)
            return 0;
    return 1;
}

/* Checks a plain batch's versions and op numbers against the cache (reading missing entries
 * from the tables), writing nothing. O(items). */
static sc_store_status check_batch(sqlite_be *be, sc_store_batch *b)
{
    row_cache *c = be->cache;
    uint64_t stamp = ++c->stamp;
    sc_store_error *err = &b->result;
    for (const sc_store_item *it = b->head; it != NULL; it = it->next) {
        if (it->kind == SC_ITEM_PATCH) {
            state_ent *e;
            int rc = cache_state(be, it->key, &e);
            if (rc == SQLITE_DONE)
                return no_state(err, it->key);
            if (rc != SQLITE_ROW)
                return db_fail(err, be->db, rc, be->path, "reading a state");
            if (e->stamp != stamp) {
                e->stamp = stamp;
                e->t_version = e->row.version;
            }
            if (it->version != e->t_version + 1)
                return patch_gap(err, it->key, it->version, e->t_version);
            e->t_version = it->version;
        } else {
            sess_ent *e;
            int rc = cache_session(be, it->key, &e);
            if (rc == SQLITE_DONE)
                return no_session(err, it->key, it->op);
            if (rc != SQLITE_ROW)
                return db_fail(err, be->db, rc, be->path, "reading a session");
            if (e->stamp != stamp) {
                e->stamp = stamp;
                e->t_op = e->last_op;
            }
            if (it->op != e->t_op + 1)
                return op_gap(err, it->key, it->op, e->t_op);
            e->t_op = it->op;
        }
    }
    return SC_STORE_OK;
}

/* Applies one batch; a batch that fails has no effect and leaves b->result set. Returns 0,
 * or -1 when the group cannot go on (a write failed where no savepoint can undo it, or SQLite
 * rolled the transaction back): b->result says why. */
static int apply_batch(sqlite_be *be, sc_store_batch *b)
{
    sc_store_status st;
    if (plain_batch(b)) {
        if (check_batch(be, b) != SC_STORE_OK)
            return sqlite3_get_autocommit(be->db) ? -1 : 0; /* refused: nothing written */
        for (const sc_store_item *it = b->head; it != NULL; it = it->next)
            if (apply_item(be, b, it) != SC_STORE_OK)
                return -1; /* an I/O-level failure half-way: only the group can be undone */
        return 0;
    }
    /* Entries dirtied before the savepoint are written before it, so that rolling the batch
     * back cannot undo them. */
    if ((st = flush_dirty(be, &b->result)) != SC_STORE_OK)
        return -1;
    int rc = run(be->w[W_SAVEPOINT]);
    if (rc != SQLITE_OK) {
        db_fail(&b->result, be->db, rc, be->path, "starting a batch");
        return -1;
    }
    size_t pending_before = be->n_pending;
    st = SC_STORE_OK;
    for (const sc_store_item *it = b->head; it != NULL && st == SC_STORE_OK; it = it->next)
        st = apply_item(be, b, it);
    if (st != SC_STORE_OK) {
        run(be->w[W_ROLLBACK_TO]);
        cache_clear(be->cache); /* entries this batch changed are wrong now */
        be->n_pending = pending_before;
        if (b->expired_out != NULL)
            *b->expired_out = 0;
    }
    rc = run(be->w[W_RELEASE]);
    if (rc != SQLITE_OK && st == SC_STORE_OK) {
        db_fail(&b->result, be->db, rc, be->path, "ending a batch");
        return -1;
    }
    return sqlite3_get_autocommit(be->db) ? -1 : 0;
}

static int sqlite_commit(void *vbe, sc_store_batch *group)
{
    sqlite_be *be = vbe;
    sc_store_error err;
    memset(&err, 0, sizeof err);
    row_cache *c = be->cache;
    if (c->n_states > SC_SQLITE_CACHE_MAX || c->n_sessions > SC_SQLITE_CACHE_MAX)
        cache_clear(c); /* nothing is dirty between groups */
    int rc = run(be->w[W_BEGIN]);
    if (rc != SQLITE_OK) {
        db_fail(&err, be->db, rc, be->path, "starting a transaction");
        for (sc_store_batch *b = group; b != NULL; b = b->next)
            b->result = err;
        return 0;
    }
    size_t pending_before = be->n_pending;
    for (sc_store_batch *b = group; b != NULL && rc == SQLITE_OK; b = b->next) {
        if (apply_batch(be, b) == 0)
            continue;
        /* After SQLITE_FULL, IOERR, NOMEM or BUSY, SQLite may have rolled the whole
         * transaction back on its own, or a plain batch is half written: the whole group
         * fails, the batches before this one included. */
        err = b->result.status != SC_STORE_OK ? b->result : err;
        if (err.status == SC_STORE_OK)
            sc_store_fail(&err, SC_STORE_ESQL, 0, "%s: the transaction was rolled back", be->path);
        rc = SQLITE_ABORT;
    }
    if (rc == SQLITE_OK && flush_dirty(be, &err) != SC_STORE_OK)
        rc = SQLITE_ABORT;
    if (rc == SQLITE_OK) {
        rc = run(be->w[W_COMMIT]);
        if (rc == SQLITE_OK)
            return 1;
        db_fail(&err, be->db, rc, be->path, "committing");
    }
    if (!sqlite3_get_autocommit(be->db))
        run(be->w[W_ROLLBACK]);
    cache_clear(c);
    be->n_pending = pending_before;
    for (sc_store_batch *b = group; b != NULL; b = b->next)
        if (b->result.status == SC_STORE_OK) {
            b->result = err;
            if (b->expired_out != NULL)
                *b->expired_out = 0;
        }
    return 0;
}

/* Writes a snapshot of state id at its current version by replaying its log. */
static sc_store_status checkpoint_one(sqlite_be *be, int64_t id, sc_store_error *err)
{
    /* The row changes behind the writer's cache: forget its entry (refilled on demand). */
    sqlite3_stmt *k = be->w[W_STATE_GET_ID];
    sqlite3_bind_int64(k, 1, id);
    if (sqlite3_step(k) == SQLITE_ROW)
        cache_evict_state(be->cache, (const char *)sqlite3_column_text(k, 6));
    done_with(k);
    state_row row;
    int rc = state_get(be, NULL, id, &row);
    if (rc == SQLITE_DONE)
        return SC_STORE_OK; /* dropped meanwhile */
    if (rc != SQLITE_ROW)
        return db_fail(err, be->db, rc, be->path, "reading a state");
    if (!checkpoint_due(be, &row))
        return SC_STORE_OK;
    char key[64];
    snprintf(key, sizeof key, "#%lld", (long long)id);
    sqlite3_stmt *snap = be->w[W_SNAP_GET];
    sqlite3_bind_int64(snap, 1, id);
    if ((rc = sqlite3_step(snap)) != SQLITE_ROW) {
        done_with(snap);
        return db_fail(err, be->db, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, be->path,
                       "reading a snapshot");
    }
    sqlite3_stmt *rows = be->w[W_PATCH_SINCE];
    sqlite3_bind_int64(rows, 1, id);
    bind_u64(rows, 2, row.snap_version);
    char *json = NULL;
    sc_store_status st = replay(key, (const char *)sqlite3_column_text(snap, 0),
                                (size_t)sqlite3_column_bytes(snap, 0), row.snap_version, rows,
                                sqlite3_step(rows), row.version, &json, err);
    done_with(rows);
    done_with(snap);
    if (st != SC_STORE_OK)
        return st;
    size_t len = strlen(json);
    rc = snapshot_put(be, id, json, len);
    cJSON_free(json);
    row.snap_version = row.version;
    row.snap_bytes = len;
    row.since_bytes = 0;
    uint64_t kept_from = 1; /* not known here: as if the log could start at version 1 */
    if (rc != SQLITE_OK || (rc = trim_log(be, &row, &kept_from)) != SQLITE_OK ||
        (rc = state_put(be, &row)) != SQLITE_OK)
        return db_fail(err, be->db, rc, be->path, "writing a checkpoint");
    atomic_fetch_add(&be->counters->checkpoints, 1);
    return SC_STORE_OK;
}

/* After a group's completions: due checkpoints (one transaction), then WAL upkeep. A failure
 * here loses nothing (the log still holds every patch); it is reported on stderr and the state
 * is retried after its next patch. */
static void sqlite_maintain(void *vbe)
{
    sqlite_be *be = vbe;
    if (be->n_pending > 0) {
        sc_store_error err;
        memset(&err, 0, sizeof err);
        int rc = run(be->w[W_BEGIN]);
        sc_store_status st = rc == SQLITE_OK ? SC_STORE_OK
                                             : db_fail(&err, be->db, rc, be->path, "checkpoint");
        for (size_t i = 0; i < be->n_pending && st == SC_STORE_OK; i++)
            st = checkpoint_one(be, be->pending[i], &err);
        if (st == SC_STORE_OK && (rc = run(be->w[W_COMMIT])) != SQLITE_OK)
            st = db_fail(&err, be->db, rc, be->path, "committing a checkpoint");
        if (st != SC_STORE_OK) {
            if (!sqlite3_get_autocommit(be->db))
                run(be->w[W_ROLLBACK]);
            fprintf(stderr, "statechannel store: checkpoint failed: %s\n", err.message);
        }
        be->n_pending = 0;
    }
    if (be->wal_pages >= SC_SQLITE_WAL_CHECKPOINT_PAGES) {
        be->wal_pages = 0;
        sqlite3_wal_checkpoint_v2(be->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Reader
 * ------------------------------------------------------------------------------------------- */

/* Calls on_state for the rows of stmt (STATES_ALL or STATES_ONE, bound). */
static sc_store_status load_states(sqlite_be *be, sqlite3_stmt *st, sc_store_state_fn fn,
                                   void *user, int *found, sc_store_error *err)
{
    int rc;
    sc_store_status status = SC_STORE_OK;
    while (status == SC_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *found = 1;
        sc_store_state_rec rec;
        int64_t id = sqlite3_column_int64(st, 0);
        rec.key = (const char *)sqlite3_column_text(st, 1);
        rec.topic = (const char *)sqlite3_column_text(st, 2);
        rec.owner = (const char *)sqlite3_column_text(st, 3);
        rec.version = col_u64(st, 4);
        uint64_t snap_version = col_u64(st, 5);
        const char *snap = (const char *)sqlite3_column_text(st, 6);
        size_t snap_len = (size_t)sqlite3_column_bytes(st, 6);
        char *json = NULL;
        if (rec.version == snap_version) {
            rec.json = snap; /* fast path: nothing to replay */
            rec.json_len = snap_len;
        } else {
            sqlite3_stmt *rows = be->r[R_PATCH_SINCE];
            sqlite3_bind_int64(rows, 1, id);
            bind_u64(rows, 2, snap_version);
            status = replay(rec.key, snap, snap_len, snap_version, rows, sqlite3_step(rows),
                            rec.version, &json, err);
            done_with(rows);
            if (status != SC_STORE_OK)
                break;
            rec.json = json;
            rec.json_len = strlen(json);
        }
        if (fn(user, &rec) != 0)
            status = sc_store_fail(err, SC_STORE_ESTOPPED, 0, "loading stopped by the caller");
        cJSON_free(json);
    }
    if (status == SC_STORE_OK && rc != SQLITE_DONE)
        status = db_fail(err, be->rdb, rc, be->path, "loading states");
    done_with(st);
    return status;
}

/* Calls on_session for the rows of stmt (SESS_ALL or SESS_ONE, bound). */
static sc_store_status load_sessions(sqlite_be *be, sqlite3_stmt *st, sc_store_session_fn fn,
                                     void *user, int *found, sc_store_error *err)
{
    sc_store_outcome outs[SC_STORE_OUTCOMES_KEPT];
    char *bodies[SC_STORE_OUTCOMES_KEPT];
    int rc;
    sc_store_status status = SC_STORE_OK;
    while (status == SC_STORE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *found = 1;
        sc_store_session_rec rec;
        rec.id = (const char *)sqlite3_column_text(st, 0);
        rec.topic = (const char *)sqlite3_column_text(st, 1);
        rec.state_key = (const char *)sqlite3_column_text(st, 2);
        rec.last_op = col_u64(st, 3);
        rec.last_seen_ms = sqlite3_column_int64(st, 4);
        sqlite3_stmt *o = be->r[R_OUTCOMES];
        bind_str(o, 1, rec.id);
        size_t n = 0;
        int orc;
        /* At most SC_STORE_OUTCOMES_KEPT rows exist (the writer trims); keep the newest if a
         * hand-edited file holds more. */
        while ((orc = sqlite3_step(o)) == SQLITE_ROW) {
            if (n == SC_STORE_OUTCOMES_KEPT) {
                free(bodies[0]);
                memmove(outs, outs + 1, sizeof outs[0] * (n - 1));
                memmove(bodies, bodies + 1, sizeof bodies[0] * (n - 1));
                n--;
            }
            const char *body = (const char *)sqlite3_column_text(o, 3);
            size_t len = (size_t)sqlite3_column_bytes(o, 3);
            bodies[n] = malloc(len + 1);
            if (bodies[n] == NULL) {
                status = sc_store_fail(err, SC_STORE_ENOMEM, 0, "loading sessions: out of memory");
                break;
            }
            if (len > 0)
                memcpy(bodies[n], body, len);
            bodies[n][len] = '\0';
            outs[n].op = col_u64(o, 0);
            outs[n].ok = sqlite3_column_int(o, 1) != 0;
            outs[n].version = col_u64(o, 2);
            outs[n].body = bodies[n];
            outs[n].body_len = len;
            n++;
        }
        done_with(o);
        if (status == SC_STORE_OK && orc != SQLITE_DONE)
            status = db_fail(err, be->rdb, orc, be->path, "loading op outcomes");
        if (status == SC_STORE_OK) {
            rec.n_outcomes = n;
            rec.outcomes = outs;
            if (fn(user, &rec) != 0)
                status = sc_store_fail(err, SC_STORE_ESTOPPED, 0, "loading stopped by the caller");
        }
        for (size_t i = 0; i < n; i++)
            free(bodies[i]);
    }
    if (status == SC_STORE_OK && rc != SQLITE_DONE)
        status = db_fail(err, be->rdb, rc, be->path, "loading sessions");
    done_with(st);
    return status;
}

static sc_store_status sqlite_load(void *vbe, const char *state_key, const char *session_id,
                                   sc_store_state_fn on_state, sc_store_session_fn on_session,
                                   void *user, sc_store_error *err)
{
    sqlite_be *be = vbe;
    pthread_mutex_lock(&be->read_mu);
    int rc = run(be->r[R_BEGIN]);
    sc_store_status st = rc == SQLITE_OK ? SC_STORE_OK
                                         : db_fail(err, be->rdb, rc, be->path, "starting a read");
    int found = 0;
    if (st == SC_STORE_OK && state_key != NULL) {
        bind_str(be->r[R_STATES_ONE], 1, state_key);
        st = load_states(be, be->r[R_STATES_ONE], on_state, user, &found, err);
        if (st == SC_STORE_OK && !found)
            st = sc_store_fail(err, SC_STORE_ENOTFOUND, 0, "no state %s", state_key);
    } else if (st == SC_STORE_OK && session_id != NULL) {
        bind_str(be->r[R_SESS_ONE], 1, session_id);
        st = load_sessions(be, be->r[R_SESS_ONE], on_session, user, &found, err);
        if (st == SC_STORE_OK && !found)
            st = sc_store_fail(err, SC_STORE_ENOTFOUND, 0, "no session %s", session_id);
    } else if (st == SC_STORE_OK) {
        if (on_state != NULL)
            st = load_states(be, be->r[R_STATES_ALL], on_state, user, &found, err);
        if (st == SC_STORE_OK && on_session != NULL)
            st = load_sessions(be, be->r[R_SESS_ALL], on_session, user, &found, err);
    }
    if (!sqlite3_get_autocommit(be->rdb))
        run(be->r[R_COMMIT]);
    pthread_mutex_unlock(&be->read_mu);
    return st;
}

static sc_store_status sqlite_read_log(void *vbe, const char *key, uint64_t since,
                                       size_t max_bytes, sc_store_log **out, sc_store_error *err)
{
    sqlite_be *be = vbe;
    sc_store_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "reading a log: out of memory");
    pthread_mutex_lock(&be->read_mu);
    int rc = run(be->r[R_BEGIN]);
    sc_store_status st = rc == SQLITE_OK ? SC_STORE_OK
                                         : db_fail(err, be->rdb, rc, be->path, "starting a read");
    int64_t id = 0;
    if (st == SC_STORE_OK) {
        sqlite3_stmt *h = be->r[R_LOG_HEAD];
        bind_str(h, 1, key);
        rc = sqlite3_step(h);
        if (rc == SQLITE_ROW) {
            id = sqlite3_column_int64(h, 0);
            log->version = col_u64(h, 1);
        } else if (rc == SQLITE_DONE) {
            st = sc_store_fail(err, SC_STORE_ENOTFOUND, 0, "no state %s", key);
        } else {
            st = db_fail(err, be->rdb, rc, be->path, "reading a log");
        }
        done_with(h);
    }
    if (st == SC_STORE_OK && since > log->version)
        st = sc_store_fail(err, SC_STORE_ESEQ, 0, "state %s: version %llu is past the current %llu",
                           key, (unsigned long long)since, (unsigned long long)log->version);
    if (st == SC_STORE_OK && since < log->version) {
        size_t cap = 0;
        sqlite3_stmt *rows = be->r[R_PATCH_SINCE];
        sqlite3_bind_int64(rows, 1, id);
        bind_u64(rows, 2, since);
        uint64_t next = since + 1;
        while (st == SC_STORE_OK && next <= log->version && (rc = sqlite3_step(rows)) == SQLITE_ROW) {
            uint64_t v = col_u64(rows, 0);
            if (v != next) {
                st = sc_store_fail(err, SC_STORE_ETRIMMED, 0,
                                   "state %s: version %llu is no longer in the log (oldest kept: %llu)",
                                   key, (unsigned long long)next, (unsigned long long)v);
                break;
            }
            size_t len = (size_t)sqlite3_column_bytes(rows, 1);
            if (max_bytes > 0 && log->bytes + len > max_bytes) {
                st = sc_store_fail(err, SC_STORE_ELIMIT, 0,
                                   "state %s: the frames since %llu exceed %zu bytes", key,
                                   (unsigned long long)since, max_bytes);
                break;
            }
            if (log->n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                sc_store_frame *grown = realloc(log->frames, ncap * sizeof *grown);
                if (grown == NULL) {
                    st = sc_store_fail(err, SC_STORE_ENOMEM, 0, "reading a log: out of memory");
                    break;
                }
                log->frames = grown;
                cap = ncap;
            }
            char *copy = malloc(len + 1);
            if (copy == NULL) {
                st = sc_store_fail(err, SC_STORE_ENOMEM, 0, "reading a log: out of memory");
                break;
            }
            memcpy(copy, sqlite3_column_text(rows, 1), len);
            copy[len] = '\0';
            log->frames[log->n].version = v;
            log->frames[log->n].patch = copy;
            log->frames[log->n].len = len;
            log->n++;
            log->bytes += len;
            next++;
        }
        if (st == SC_STORE_OK && next <= log->version)
            st = rc == SQLITE_DONE || rc == SQLITE_ROW
                     ? sc_store_fail(err, SC_STORE_ETRIMMED, 0,
                                     "state %s: version %llu is no longer in the log", key,
                                     (unsigned long long)next)
                     : db_fail(err, be->rdb, rc, be->path, "reading a log");
        done_with(rows);
    }
    if (!sqlite3_get_autocommit(be->rdb))
        run(be->r[R_COMMIT]);
    pthread_mutex_unlock(&be->read_mu);
    if (st != SC_STORE_OK) {
        sc_store_log_free(log);
        return st;
    }
    *out = log;
    return SC_STORE_OK;
}

static const char *sqlite_path(const void *vbe)
{
    return ((const sqlite_be *)vbe)->path;
}

static void sqlite_close(void *vbe)
{
    sqlite_be *be = vbe;
    if (be == NULL)
        return;
    if (be->cache != NULL) {
        cache_clear(be->cache);
        free(be->cache);
    }
    for (int i = 0; i < W_COUNT_; i++)
        sqlite3_finalize(be->w[i]);
    for (int i = 0; i < R_COUNT_; i++)
        sqlite3_finalize(be->r[i]);
    sqlite3_close(be->rdb); /* the reader first: the writer's close then checkpoints the WAL */
    sqlite3_close(be->db);
    if (be->lock_fd >= 0)
        close(be->lock_fd);
    pthread_mutex_destroy(&be->read_mu);
    free(be);
}

static const sc_store_backend sc_sqlite_backend = {
    .name = "sqlite",
    .commit = sqlite_commit,
    .maintain = sqlite_maintain,
    .load = sqlite_load,
    .read_log = sqlite_read_log,
    .path = sqlite_path,
    .close = sqlite_close,
};

/* ---------------------------------------------------------------------------------------------
 * Open
 * ------------------------------------------------------------------------------------------- */

static int wal_hook(void *user, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    ((sqlite_be *)user)->wal_pages = pages;
    return SQLITE_OK;
}

/* The directory exists, is a directory, and accepts a new file that can be written and
 * synced: checked now so that a bad --data fails at startup, not at the first commit. */
static sc_store_status probe_dir(const char *dir, sc_store_error *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return sc_store_fail(err, SC_STORE_EACCES, 0, "data directory %s: %s", dir,
                             strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return sc_store_fail(err, SC_STORE_EACCES, 0, "data directory %s: not a directory", dir);
    char probe[SC_SQLITE_MAX_PATH + 64];
    snprintf(probe, sizeof probe, "%s/.statechannel-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return sc_store_fail(err, SC_STORE_EACCES, 0,
                             "data directory %s is not writable: %s", dir, strerror(errno));
    int bad = write(fd, "x", 1) != 1 || fsync(fd) != 0;
    int saved = errno;
    close(fd);
    unlink(probe);
    if (bad)
        return sc_store_fail(err, SC_STORE_EACCES, 0,
                             "data directory %s: cannot write a file: %s", dir, strerror(saved));
    return SC_STORE_OK;
}

/* One process per data directory: two servers writing the same states would interleave
 * versions. A POSIX record lock on <dir>/statechannel.lock, released by the kernel when the
 * process dies (so a kill -9 never leaves a stale lock). */
static sc_store_status lock_dir(sqlite_be *be, const char *dir, sc_store_error *err)
{
    char path[SC_SQLITE_MAX_PATH + 64];
    snprintf(path, sizeof path, "%s/statechannel.lock", dir);
    be->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (be->lock_fd < 0)
        return sc_store_fail(err, SC_STORE_EACCES, 0, "%s: %s", path, strerror(errno));
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(be->lock_fd, F_SETLK, &fl) != 0) {
        int saved = errno;
        close(be->lock_fd);
        be->lock_fd = -1;
        if (saved == EACCES || saved == EAGAIN)
            return sc_store_fail(err, SC_STORE_EBUSY, 0,
                                 "data directory %s is in use by another statechannel process", dir);
        return sc_store_fail(err, SC_STORE_EACCES, 0, "%s: cannot lock: %s", path, strerror(saved));
    }
    return SC_STORE_OK;
}

/* Runs one statement of PRAGMA or DDL text; for a single-row pragma, copies the first column
 * into value (may be NULL). */
static int exec1(sqlite3 *db, const char *sql, char *value, size_t cap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && value != NULL) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        snprintf(value, cap, "%s", v != NULL ? v : "");
    }
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static sc_store_status open_conn(sqlite_be *be, sqlite3 **db, sc_store_error *err)
{
    /* NOMUTEX: each connection is used by one thread at a time (see sqlite_be). */
    int rc = sqlite3_open_v2(be->path, db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return db_fail(err, *db, rc, be->path, "opening");
    sqlite3_extended_result_codes(*db, 1);
    sqlite3_busy_timeout(*db, (int)be->opts->busy_timeout_ms);
    char mode[32] = "";
    if ((rc = exec1(*db, "PRAGMA journal_mode=WAL", mode, sizeof mode)) != SQLITE_OK)
        return db_fail(err, *db, rc, be->path, "switching to WAL");
    if (strcmp(mode, "wal") != 0)
        return sc_store_fail(err, SC_STORE_EIO, 0, "%s: cannot use WAL mode (got \"%s\")",
                             be->path, mode);
    /* FULL: the WAL is fsync'd at every commit, so a completion means on disk. NORMAL: fsync'd
     * only at WAL checkpoints; a commit survives a process crash but not a power cut. */
    const char *sync = be->opts->durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    char limit[64];
    snprintf(limit, sizeof limit, "PRAGMA journal_size_limit=%d", SC_SQLITE_JOURNAL_SIZE_LIMIT);
    if ((rc = exec1(*db, sync, NULL, 0)) != SQLITE_OK ||
        (rc = exec1(*db, "PRAGMA wal_autocheckpoint=0", NULL, 0)) != SQLITE_OK ||
        (rc = exec1(*db, limit, NULL, 0)) != SQLITE_OK)
        return db_fail(err, *db, rc, be->path, "configuring");
    return SC_STORE_OK;
}

static sc_store_status check_integrity(sqlite_be *be, sc_store_error *err)
{
    const char *sql = be->opts->full_integrity_check ? "PRAGMA integrity_check(1)"
                                                     : "PRAGMA quick_check(1)";
    char result[200] = "";
    int rc = exec1(be->db, sql, result, sizeof result);
    if (rc != SQLITE_OK)
        return db_fail(err, be->db, rc, be->path, "checking integrity");
    if (strcmp(result, "ok") != 0)
        return sc_store_fail(err, SC_STORE_ECORRUPT, SQLITE_CORRUPT,
                             "%s: integrity check failed: %s; refusing to use it: restore a "
                             "backup or move the file aside",
                             be->path, result);
    return SC_STORE_OK;
}

static sc_store_status migrate(sqlite_be *be, sc_store_error *err)
{
    sqlite3 *db = be->db;
    int rc = exec1(db, "BEGIN IMMEDIATE", NULL, 0);
    if (rc != SQLITE_OK)
        return db_fail(err, db, rc, be->path, "starting the schema check");
    char cur[32] = "0";
    if ((rc = exec1(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                    NULL, 0)) != SQLITE_OK ||
        (rc = exec1(db, "SELECT coalesce(max(version), 0) FROM schema_version", cur, sizeof cur)) !=
            SQLITE_OK) {
        sc_store_status st = db_fail(err, db, rc, be->path, "reading the schema version");
        exec1(db, "ROLLBACK", NULL, 0);
        return st;
    }
    long version = strtol(cur, NULL, 10);
    if (version > SC_SQLITE_SCHEMA_VERSION) {
        exec1(db, "ROLLBACK", NULL, 0);
        return sc_store_fail(err, SC_STORE_ESCHEMA, 0,
                             "%s: schema version %ld was written by a newer statechannel (this "
                             "one knows up to %d); upgrade it or point --data elsewhere",
                             be->path, version, SC_SQLITE_SCHEMA_VERSION);
    }
    for (size_t i = 0; i < SC_SQLITE_N_MIGRATIONS; i++) {
        if (sc_sqlite_migrations[i].version <= version)
            continue;
        char *msg = NULL;
        rc = sqlite3_exec(db, sc_sqlite_migrations[i].sql, NULL, NULL, &msg);
        if (rc == SQLITE_OK) {
            char set[96];
            snprintf(set, sizeof set, "DELETE FROM schema_version; INSERT INTO schema_version "
                                      "VALUES(%d)", sc_sqlite_migrations[i].version);
            rc = sqlite3_exec(db, set, NULL, NULL, &msg);
        }
        if (rc != SQLITE_OK) {
            sc_store_fail(err, status_of(rc) == SC_STORE_OK ? SC_STORE_ESQL : status_of(rc), rc,
                          "%s: migrating the schema to version %d: %s", be->path,
                          sc_sqlite_migrations[i].version, msg != NULL ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            exec1(db, "ROLLBACK", NULL, 0);
            return err != NULL ? err->status : SC_STORE_ESQL;
        }
    }
    if ((rc = exec1(db, "COMMIT", NULL, 0)) != SQLITE_OK) {
        sc_store_status st = db_fail(err, db, rc, be->path, "committing the schema");
        exec1(db, "ROLLBACK", NULL, 0);
        return st;
    }
    return SC_STORE_OK;
}

static sc_store_status prepare_all(sqlite_be *be, sc_store_error *err)
{
    for (int i = 0; i < W_COUNT_; i++) {
        int rc = sqlite3_prepare_v3(be->db, sc_sqlite_writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &be->w[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail(err, be->db, rc, be->path, sc_sqlite_writer_sql[i]);
    }
    for (int i = 0; i < R_COUNT_; i++) {
        int rc = sqlite3_prepare_v3(be->rdb, sc_sqlite_reader_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &be->r[i], NULL);
        if (rc != SQLITE_OK)
            return db_fail(err, be->rdb, rc, be->path, sc_sqlite_reader_sql[i]);
    }
    return SC_STORE_OK;
}

sc_store_status sc_store_sqlite_open(const char *data_dir, const sc_store_options *opts,
                                     sc_store_counters *counters, void **out,
                                     const sc_store_backend **ops, sc_store_error *err)
{
    if (strlen(data_dir) > SC_SQLITE_MAX_PATH)
        return sc_store_fail(err, SC_STORE_EARG, 0, "data directory path too long (max %d)",
                             SC_SQLITE_MAX_PATH);
    sc_store_status st = probe_dir(data_dir, err);
    if (st != SC_STORE_OK)
        return st;
    sqlite_be *be = calloc(1, sizeof *be);
    if (be == NULL)
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "sc_store_open: out of memory");
    be->opts = opts;
    be->counters = counters;
    be->lock_fd = -1;
    pthread_mutex_init(&be->read_mu, NULL);
    be->cache = calloc(1, sizeof *be->cache);
    if (be->cache == NULL) {
        pthread_mutex_destroy(&be->read_mu);
        free(be);
        return sc_store_fail(err, SC_STORE_ENOMEM, 0, "sc_store_open: out of memory");
    }
    snprintf(be->path, sizeof be->path, "%s/%s", data_dir, SC_STORE_FILE_NAME);
    if ((st = lock_dir(be, data_dir, err)) != SC_STORE_OK ||
        (st = open_conn(be, &be->db, err)) != SC_STORE_OK ||
        (st = check_integrity(be, err)) != SC_STORE_OK || (st = migrate(be, err)) != SC_STORE_OK ||
        (st = open_conn(be, &be->rdb, err)) != SC_STORE_OK ||
        (st = prepare_all(be, err)) != SC_STORE_OK) {
        sqlite_close(be);
        return st;
    }
    /* The file (and its WAL) are new directory entries: make them durable too. */
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (sqlite3_db_readonly(be->db, "main") == 1) {
        sqlite_close(be);
        return sc_store_fail(err, SC_STORE_EACCES, 0, "%s/%s is read-only", data_dir,
                             SC_STORE_FILE_NAME);
    }
    sqlite3_wal_hook(be->db, wal_hook, be);
    *out = be;
    *ops = &sc_sqlite_backend;
    return SC_STORE_OK;
}

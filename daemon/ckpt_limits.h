/*
 * ckpt_limits.h - every bound a client can push against, in one place.
 * Changing a value here changes the contract: keep proto/API.md in step.
 */
#ifndef CKPTD_LIMITS_H
#define CKPTD_LIMITS_H

#define RUN_NAME_MAX 128           /* run and metric names, bytes */
#define METRICS_MAX 64             /* metric.NAME parameters per upload */
#define QUERY_PARAMS_MAX 96        /* parameters in one query string */
#define RAW_URI_MAX 8192           /* request target, bytes */
#define PATH_SEGMENTS_MAX 8        /* segments in a request path */
#define LIST_LIMIT_DEFAULT 100     /* checkpoints per listing page */
#define LIST_LIMIT_MAX 1000
#define CURSOR_MAX 64              /* length of an opaque listing cursor */
#define ID_MAX INT64_MAX           /* checkpoint ids are 1..ID_MAX */

#define DEFAULT_MAX_UPLOAD (100ULL << 30) /* --max-upload default: 100 GiB */
#define DEFAULT_THREADS 4
#define THREADS_MAX 64
#define COMMIT_THREADS 4           /* fsync + rename + insert workers */
#define READERS_MAX (THREADS_MAX + COMMIT_THREADS + 2)

#ifndef CONNECTION_MEMORY
/* MHD per-connection pool. Body pieces are about half of it, and 0.9.75
 * zeroes the whole pool for every request: 128 KiB measured best of 64,
 * 128 and 256 KiB (1 GiB upload 2.2, 2.0, 2.0 s; /best 12-15k, 12-15k,
 * 10.5k req/s on tmpfs, wrk -c64). */
#define CONNECTION_MEMORY 131072
#endif
#define CONNECTION_LIMIT 1000      /* open connections in all */
#define PER_IP_CONNECTION_LIMIT 200
#define CONNECTION_TIMEOUT_S 120   /* libmicrohttpd's own idle timeout */
#define HEADER_DEADLINE_S 30       /* a request's headers, or the next request on
                                    * an idle keep-alive connection, must arrive
                                    * within this; slow-header clients are cut */
#define UPLOAD_RATE_WINDOW_S 20    /* upload bodies must move at least */
#define UPLOAD_MIN_RATE 1024       /* this many bytes/s over each window */
#define DEFAULT_MAX_UPLOADS 64     /* concurrent uploads; more answer 503 */
#define WATCHDOG_PERIOD_MS 500
#define SHUTDOWN_GRACE_S 10        /* in-flight requests get this long on SIGTERM */
#define DB_BUSY_TIMEOUT_MS 10000
#define RESERVE_BYTES (8 << 20)    /* DATA/reserve: room for deletes on a full disk */

/* Lifecycle (issue 5): retention policies, aliases, leases, long polls. */
#define POLICY_BODY_MAX 65536      /* PUT .../policy body, bytes */
#define POLICY_BEST_MAX 16         /* keep_best rules in one policy */
#define POLICY_COUNT_MAX 1000000   /* keep_last, k, n and keep_within's count */
#define ALIAS_BODY_MAX 4096        /* PUT .../aliases/NAME body, bytes */
#define LEASE_TTL_DEFAULT 600      /* seconds */
#define LEASE_TTL_MAX 86400
#define WATCH_WAIT_MAX 300         /* ?wait= seconds on a listing */
#define WATCHERS_MAX 512           /* long polls held at once; more answer 503 */

#endif

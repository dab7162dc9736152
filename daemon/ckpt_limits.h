/*
 * ckpt_limits.h - every bound a client can push against, in one place.
 * Changing a value here changes the contract: keep proto/API.md in step.
 */
#ifndef CKPTD_LIMITS_H
#define CKPTD_LIMITS_H

#define RUN_NAME_MAX 128                    /* run and metric names, bytes */
#define METRICS_MAX 64                      /* metric.NAME parameters per upload */
#define QUERY_PARAMS_MAX 96                 /* parameters in one query string */
#define RAW_URI_MAX 8192                    /* request target, bytes */
#define HEADER_LINE_MAX (CONNECTION_MEMORY) /* no header line outgrows the pool */
#define PATH_SEGMENTS_MAX 8                 /* segments in a request path */
#define LIST_LIMIT_DEFAULT 100              /* checkpoints per listing page */
#define LIST_LIMIT_MAX 1000
#define CURSOR_MAX 64    /* length of an opaque listing cursor */
#define ID_MAX INT64_MAX /* checkpoint ids are 1..ID_MAX */

#define DEFAULT_MAX_UPLOAD (100ULL << 30) /* --max-upload default: 100 GiB */
/* threads = auto: one event thread per CPU, at least this many, so that a
 * thread that blocks (a cold index read, a large fallocate) does not stall
 * every connection. More threads than CPUs only preempt each other: on 2
 * CPUs, 4 threads gave /v1/runs/R/checkpoints?limit=10 without the query
 * cache a p99 of 6.2 ms against 3.4 ms with 2 (wrk -c64, 5 rounds). */
#define THREADS_AUTO_MIN 2
#define THREADS_MAX 64
#define DEFAULT_QCACHE_SLOTS 64 /* query-cache: answers kept per HTTP thread */
#define QCACHE_SLOTS_MAX 1024
/* fsync + rename + insert workers. Mostly waiting on fsync: more of them
 * keep more fsyncs in flight and let more uploads share a group commit.
 * On ext4 (virtio disk), alternating 4 and 16: 16 x 64 MiB uploads, 6
 * rounds, median 281 -> 296 MB/s; 1 KiB uploads from 16 clients, 5 rounds,
 * 872 -> 1 103 uploads/s (1.95 -> 7.5 uploads per commit); /best during
 * uploads unchanged (max 35-39 vs 36-40 ms), peak RSS +1.6 MiB. */
#define COMMIT_THREADS 16
/* Index readers for those workers: only a group commit's leader reads (under
 * the publish lock), and background jobs may wait for one. One per worker
 * cost startup a schema read each, about 1.5 ms. */
#define WORKER_READERS 4
#define READERS_MAX (THREADS_MAX + WORKER_READERS + 2)

#ifndef CONNECTION_MEMORY
/* MHD per-connection pool. Body pieces are about half of it, and 0.9.75
 * zeroes the whole pool twice per request (MHD_pool_reset). Measured
 * server CPU on tmpfs, 128 / 64 / 32 KiB: GET /best 93 / 76 / 72 us per
 * request (wrk -c64); 1 GiB upload 1.95 / 2.0 / 2.1 CPU s. 64 KiB buys
 * most of the small-request saving for ~2% more upload CPU. */
#define CONNECTION_MEMORY 65536
#endif
#define CONNECTION_LIMIT 1000 /* open connections in all */
/* TCP_NOTSENT_LOWAT of every connection. 1 GiB download from tmpfs over
 * loopback, curl -o /dev/null, alternating with nginx (about 3.2 GB/s),
 * median of 5-15: none 2.88, 128 KiB 3.16, 256 KiB 3.69, 512 KiB 3.73,
 * 1 MiB 2.98, 2 MiB 2.73 GB/s. The smaller of the two best: twice
 * libmicrohttpd's 128 KiB sendfile piece. */
#define SEND_LOWAT (256 << 10)
#define PER_IP_CONNECTION_LIMIT 200
#define CONNECTION_TIMEOUT_S 120 /* libmicrohttpd's own idle timeout */
#define HEADER_DEADLINE_S                                                                          \
    30                          /* a request's headers, or the next request on                     \
                                 * an idle keep-alive connection, must arrive                      \
                                 * within this; slow-header clients are cut */
#define UPLOAD_RATE_WINDOW_S 20 /* upload bodies must move at least */
#define UPLOAD_MIN_RATE 1024    /* this many bytes/s over each window */
#define DEFAULT_MAX_UPLOADS 64  /* concurrent uploads; more answer 503 */
#define HASH_PIPELINE_MIN                                                                          \
    (8u << 20)                          /* bodies past this are hashed on a thread                 \
                                         * of their own, reading the temp file back */
#define HASH_READ_BUF (256u << 10)      /* that thread's read size */
#define WRITEBACK_CHUNK (8u << 20)      /* on a disk, start writing an upload out per */
#define WRITEBACK_ALIGN 4096u           /* this much, in whole pages of this size */
#define WRITEBACK_QUEUE 64              /* ranges waiting for the writeback thread */
#define PREALLOCATE_MIN (8u << 20)      /* stated sizes from this get blocks up front, */
#define PREALLOCATE_WINDOW (256u << 20) /* this much at a time ahead of the writes */
#define DEFAULT_MAX_UPLOADS_PER_IP 16   /* the same from one client address */
#define WATCHDOG_PERIOD_MS 500
#define SHUTDOWN_GRACE_S 10 /* in-flight requests get this long on SIGTERM */
#define DB_BUSY_TIMEOUT_MS 10000
#define RESERVE_BYTES (8 << 20)            /* DATA/reserve: room for deletes on a full disk */
#define READY_MIN_FREE_BYTES RESERVE_BYTES /* /readyz: not ready at or below this free */
#define METRICS_CACHE_MS 2000 /* /metrics: index totals older than this are refreshed */
#define METRICS_REFRESH_WAIT_MS                                                                    \
    100                            /* a scrape waits this long for the refresh, then               \
                                    * answers with the previous totals */
#define TLS_READ_BLOCK (256 << 10) /* bytes read per call when serving a blob over TLS */

/* Integrity and capacity (scrub.c, fsck.c, store.c). */
#define BLOB_READ_BYTES (1 << 20)     /* buffer for re-hashing a blob */
#define VERIFY_SEND_BYTES (256 << 10) /* piece of a download checked while sent */
#define SCRUB_PAGE 256                /* blobs fetched from the index at a time */
#define DEFAULT_SCRUB_INTERVAL_S (7 * 24 * 3600)
#define DEFAULT_SCRUB_RATE_MB 100          /* --scrub-rate, MB/s (10^6 bytes); 0 = unlimited */
#define DEFAULT_RESERVE_MAX (256ULL << 20) /* --reserve default: 1% of the file */
#define DEFAULT_RESERVE_PERCENT 1          /* system's size, at most DEFAULT_RESERVE_MAX */
#define VERIFY_CTIME_SLACK_MS                                                                      \
    1000                               /* a blob counts as verified by the scrub only if its       \
                                        * ctime (a coarse clock) is this much older */
#define CAPACITY_CHECK_BYTES (1 << 20) /* uploads re-check quota and reserve this often */

/* Lifecycle (issue 5): retention policies, aliases, leases, long polls. */
#define POLICY_BODY_MAX 65536    /* PUT .../policy body, bytes */
#define POLICY_BEST_MAX 16       /* keep_best rules in one policy */
#define POLICY_COUNT_MAX 1000000 /* keep_last, k, n and keep_within's count */
#define ALIAS_BODY_MAX 4096      /* PUT .../aliases/NAME body, bytes */
#define LEASE_TTL_DEFAULT 600    /* seconds */
#define LEASE_TTL_MAX 86400
#define WATCH_WAIT_MAX 300 /* ?wait= seconds on a listing */
#define WATCHERS_MAX 512   /* long polls held at once; more answer 503 */

#endif

/*
 * retention.c - retention policies: a strict reader of their JSON, the
 * canonical writer, and the pure keep/drop decision (retention.h).
 */
#include "retention.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jparse.h" /* client/jparse.c: one strict JSON parser for both sides */
#include "parse.h"

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* An integer member 1..POLICY_COUNT_MAX. */
static bool count_of(const struct jnode *v, unsigned *out)
{
    if (v->type != JT_NUMBER || !v->is_int || v->i < 1 || v->i > POLICY_COUNT_MAX)
        return false;
    *out = (unsigned)v->i;
    return true;
}

/* Refuse a member name that appears twice in obj. */
static const char *repeated_member(const struct jnode *obj)
{
    for (const struct jnode *a = obj->child; a; a = a->next)
        for (const struct jnode *b = a->next; b; b = b->next)
            if (strcmp(a->key, b->key) == 0)
                return a->key;
    return NULL;
}

static int parse_best(const struct jnode *v, struct policy *p, char *err, size_t size)
{
    const char *dup;

    if (v->type != JT_ARRAY || !v->child)
        return fail(err, size, "%s must be a non-empty array of {\"metric\",\"mode\",\"k\"}",
                    "keep_best");
    for (const struct jnode *e = v->child; e; e = e->next) {
        struct policy_best b = {.maximize = false};
        bool has_metric = false, has_k = false;
        if (e->type != JT_OBJECT)
            return fail(err, size, "%s entries must be objects", "keep_best");
        if ((dup = repeated_member(e)))
            return fail(err, size, "keep_best member '%s' is repeated", dup);
        if (p->n_best == POLICY_BEST_MAX) {
            snprintf(err, size, "keep_best has more than %d rules", POLICY_BEST_MAX);
            return -EINVAL;
        }
        for (const struct jnode *m = e->child; m; m = m->next) {
            if (strcmp(m->key, "metric") == 0) {
                if (m->type != JT_STRING || strlen(m->str) != m->str_len ||
                    !parse_is_name(m->str, m->str_len))
                    return fail(err, size,
                                "%s.metric must be loss or a metric name matching "
                                "[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
                                "keep_best");
                snprintf(b.metric, sizeof(b.metric), "%s", m->str);
                has_metric = true;
            } else if (strcmp(m->key, "mode") == 0) {
                if (m->type != JT_STRING ||
                    (strcmp(m->str, "min") != 0 && strcmp(m->str, "max") != 0))
                    return fail(err, size, "%s.mode must be \"min\" or \"max\"", "keep_best");
                b.maximize = m->str[1] == 'a';
            } else if (strcmp(m->key, "k") == 0) {
                if (!count_of(m, &b.k))
                    return fail(err, size, "%s.k must be an integer from 1 to 1000000",
                                "keep_best");
                has_k = true;
            } else {
                return fail(err, size, "unknown member '%s' in keep_best", m->key);
            }
        }
        if (!has_metric || !has_k)
            return fail(err, size, "%s entries need \"metric\" and \"k\"", "keep_best");
        p->best[p->n_best++] = b;
    }
    return 0;
}

static int parse_every(const struct jnode *v, struct policy *p, char *err, size_t size)
{
    bool has_field = false;
    const char *dup;

    if (v->type != JT_OBJECT)
        return fail(err, size, "%s must be {\"field\":\"epoch\"|\"step\",\"n\":N}", "keep_every");
    if ((dup = repeated_member(v)))
        return fail(err, size, "keep_every member '%s' is repeated", dup);
    for (const struct jnode *m = v->child; m; m = m->next) {
        if (strcmp(m->key, "field") == 0) {
            if (m->type != JT_STRING ||
                (strcmp(m->str, "epoch") != 0 && strcmp(m->str, "step") != 0))
                return fail(err, size, "%s.field must be \"epoch\" or \"step\"", "keep_every");
            p->every_step = m->str[0] == 's';
            has_field = true;
        } else if (strcmp(m->key, "n") == 0) {
            if (!count_of(m, &p->every_n))
                return fail(err, size, "%s.n must be an integer from 1 to 1000000", "keep_every");
        } else {
            return fail(err, size, "unknown member '%s' in keep_every", m->key);
        }
    }
    if (!has_field || !p->every_n)
        return fail(err, size, "%s needs \"field\" and \"n\"", "keep_every");
    return 0;
}

/* "<int>(s|m|h|d)", the count 1..POLICY_COUNT_MAX. */
static int parse_within(const struct jnode *v, struct policy *p, char *err, size_t size)
{
    char digits[16];
    int64_t n;

    if (v->type == JT_STRING && v->str_len >= 2 && v->str_len < sizeof(digits) &&
        strchr("smhd", v->str[v->str_len - 1])) {
        memcpy(digits, v->str, v->str_len - 1);
        digits[v->str_len - 1] = '\0';
        if (parse_u63(digits, &n) == 0 && n >= 1 && n <= POLICY_COUNT_MAX) {
            p->within_n = (unsigned)n;
            p->within_unit = v->str[v->str_len - 1];
            return 0;
        }
    }
    return fail(err, size, "%s must be a string like \"48h\": 1 to 1000000 then s, m, h or d",
                "keep_within");
}

int policy_parse(const char *text, size_t len, struct policy *out, char *err, size_t err_size)
{
    struct policy p = {0};
    struct jnode *root = NULL;
    const char *dup;
    int r;

    if (ckpt_jparse(text, len, &root) < 0) {
        snprintf(err, err_size, "the policy is not valid JSON");
        return -EINVAL;
    }
    if (root->type != JT_OBJECT) {
        r = fail(err, err_size, "%s", "the policy must be a JSON object");
        goto out;
    }
    if ((dup = repeated_member(root))) {
        r = fail(err, err_size, "member '%s' is repeated", dup);
        goto out;
    }
    r = 0;
    for (const struct jnode *m = root->child; m && r == 0; m = m->next) {
        if (strcmp(m->key, "keep_last") == 0) {
            if (!count_of(m, &p.keep_last))
                r = fail(err, err_size, "%s must be an integer from 1 to 1000000", "keep_last");
        } else if (strcmp(m->key, "keep_best") == 0) {
            r = parse_best(m, &p, err, err_size);
        } else if (strcmp(m->key, "keep_every") == 0) {
            r = parse_every(m, &p, err, err_size);
        } else if (strcmp(m->key, "keep_within") == 0) {
            r = parse_within(m, &p, err, err_size);
        } else {
            r = fail(err, err_size,
                     "unknown member '%s': a policy has keep_last, keep_best, keep_every and "
                     "keep_within",
                     m->key);
        }
    }
    if (r == 0 && !p.keep_last && !p.n_best && !p.every_n && !p.within_n)
        r = fail(err, err_size, "%s",
                 "a policy needs at least one of keep_last, keep_best, keep_every, keep_within");
    if (r == 0)
        *out = p;
out:
    ckpt_jparse_free(root);
    return r;
}

void policy_json(struct json *j, const struct policy *p)
{
    bool first = true;

    json_raw(j, "{");
    if (p->keep_last) {
        json_raw(j, "\"keep_last\":");
        json_int(j, p->keep_last);
        first = false;
    }
    if (p->n_best) {
        json_raw(j, first ? "\"keep_best\":[" : ",\"keep_best\":[");
        for (size_t i = 0; i < p->n_best; i++) {
            json_raw(j, i ? ",{\"metric\":" : "{\"metric\":");
            json_str(j, p->best[i].metric);
            json_raw(j,
                     p->best[i].maximize ? ",\"mode\":\"max\",\"k\":" : ",\"mode\":\"min\",\"k\":");
            json_int(j, p->best[i].k);
            json_raw(j, "}");
        }
        json_raw(j, "]");
        first = false;
    }
    if (p->every_n) {
        json_raw(j, first ? "\"keep_every\":{\"field\":" : ",\"keep_every\":{\"field\":");
        json_raw(j, p->every_step ? "\"step\",\"n\":" : "\"epoch\",\"n\":");
        json_int(j, p->every_n);
        json_raw(j, "}");
        first = false;
    }
    if (p->within_n) {
        char s[24];
        snprintf(s, sizeof(s), "%u%c", p->within_n, p->within_unit);
        json_raw(j, first ? "\"keep_within\":" : ",\"keep_within\":");
        json_str(j, s);
    }
    json_raw(j, "}");
}

int64_t policy_within_ms(const struct policy *p)
{
    int64_t unit = 1000;
    switch (p->within_unit) {
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    default: break;
    }
    return (int64_t)p->within_n * unit;
}

/* Ranking for one keep_best rule sorts an array of item indexes. */
struct rank_ctx {
    const struct ret_item *items;
    size_t rule;
    bool maximize;
};

static int by_value(const void *pa, const void *pb, void *arg)
{
    const struct rank_ctx *c = arg;
    const struct ret_item *a = &c->items[*(const size_t *)pa];
    const struct ret_item *b = &c->items[*(const size_t *)pb];
    double va = a->value[c->rule], vb = b->value[c->rule];
    if (va != vb)
        return (va < vb) != c->maximize ? -1 : 1;
    if (a->id == b->id)
        return 0;
    return a->id > b->id ? -1 : 1; /* ties: newest first */
}

void retention_evaluate(const struct policy *p, int64_t now_ms, struct ret_item *items, size_t n)
{
    size_t *order = NULL;

    for (size_t i = 0; i < n; i++) {
        struct ret_item *it = &items[i];
        it->latest = it->every = it->within = false;
        it->last_rank = 0;
        memset(it->best_rank, 0, sizeof(it->best_rank));
        it->keep = !p || it->pinned || it->leased || it->n_aliases > 0;
    }
    for (size_t i = n; i-- > 0;) {
        if (!items[i].corrupt) {
            items[i].latest = items[i].keep = true;
            break;
        }
    }
    if (!p)
        return;
    unsigned last = 0;
    for (size_t i = n; i-- > 0 && last < p->keep_last;) {
        if (!items[i].corrupt) {
            items[i].last_rank = ++last;
            items[i].keep = true;
        }
    }
    int64_t span = policy_within_ms(p);
    for (size_t i = 0; i < n; i++) {
        struct ret_item *it = &items[i];
        if (it->corrupt)
            continue;
        if (p->every_n) {
            bool has = p->every_step ? it->has_step : it->has_epoch;
            int64_t v = p->every_step ? it->step : it->epoch;
            if (has && v % p->every_n == 0)
                it->every = it->keep = true;
        }
        if (span && it->created_ms >= now_ms - span)
            it->within = it->keep = true;
    }
    if (p->n_best && n)
        order = malloc(n * sizeof(*order));
    for (size_t r = 0; order && r < p->n_best; r++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!items[i].corrupt && items[i].has_value[r])
                order[m++] = i;
        struct rank_ctx c = {items, r, p->best[r].maximize};
        qsort_r(order, m, sizeof(*order), by_value, &c);
        for (size_t i = 0; i < m && i < p->best[r].k; i++) {
            items[order[i]].best_rank[r] = (unsigned)i + 1;
            items[order[i]].keep = true;
        }
    }
    if (p->n_best && n && !order) {
        /* Out of memory: keep everything rather than drop by mistake. */
        for (size_t i = 0; i < n; i++)
            items[i].keep = true;
    }
    free(order);
}

void retention_reasons(const struct policy *p, const struct ret_item *it,
                       void (*fn)(void *ctx, const char *reason), void *ctx)
{
    char s[RUN_NAME_MAX + 64];

    if (!it->keep)
        return;
    if (it->latest)
        fn(ctx, "latest");
    if (it->pinned)
        fn(ctx, "pinned");
    for (size_t i = 0; i < it->n_aliases; i++) {
        snprintf(s, sizeof(s), "alias %s", it->aliases[i]);
        fn(ctx, s);
    }
    if (it->leased)
        fn(ctx, "lease");
    if (!p) {
        fn(ctx, "no policy");
        return;
    }
    for (size_t r = 0; r < p->n_best; r++) {
        if (it->best_rank[r]) {
            snprintf(s, sizeof(s), "best %u of %u by %s", it->best_rank[r], p->best[r].k,
                     p->best[r].metric);
            fn(ctx, s);
        }
    }
    if (it->last_rank) {
        snprintf(s, sizeof(s), "last %u of %u", it->last_rank, p->keep_last);
        fn(ctx, s);
    }
    if (it->every) {
        snprintf(s, sizeof(s), "every %u %s", p->every_n, p->every_step ? "step" : "epoch");
        fn(ctx, s);
    }
    if (it->within) {
        snprintf(s, sizeof(s), "within %u%c", p->within_n, p->within_unit);
        fn(ctx, s);
    }
}

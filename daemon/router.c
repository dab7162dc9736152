/*
 * router.c - the route table and the matcher. Deny by default: anything not
 * in the table is 404, or 405 when only the method is wrong.
 */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "api_lifecycle.h"
#include "respond.h"

static const struct route routes[] = {
    {M_GET, "/healthz", NULL, NULL, api_healthz},
    {M_GET, "/v1/runs", NULL, NULL, api_runs},
    {M_PUT | M_POST, "/v1/runs/:run/checkpoints", api_upload_begin, api_upload_body,
     api_upload_end},
    {M_GET, "/v1/runs/:run/checkpoints", NULL, NULL, api_list},
    {M_GET, "/v1/runs/:run/best", NULL, NULL, api_best},
    {M_GET, "/v1/runs/:run/best/blob", NULL, NULL, api_best_blob},
    {M_GET, "/v1/runs/:run/latest", NULL, NULL, api_latest},
    {M_GET, "/v1/runs/:run/latest/blob", NULL, NULL, api_latest_blob},
    {M_GET | M_DELETE, "/v1/checkpoints/:id", NULL, NULL, api_checkpoint},
    {M_GET, "/v1/checkpoints/:id/blob", NULL, NULL, api_checkpoint_blob},
    {M_GET | M_POST, "/v1/admin/scrub", NULL, NULL, api_admin_scrub},
    {M_GET, "/v1/stats", NULL, NULL, api_stats},
    {M_GET, "/metrics", NULL, NULL, api_metrics},
    {M_GET, "/readyz", NULL, NULL, api_readyz},
    /* lifecycle (api_lifecycle.c) */
    {M_POST, "/v1/checkpoints/:id/pin", NULL, NULL, api_pin},
    {M_POST, "/v1/checkpoints/:id/unpin", NULL, NULL, api_pin},
    {M_POST, "/v1/checkpoints/:id/lease", NULL, NULL, api_lease},
    {M_DELETE, "/v1/leases/:name", NULL, NULL, api_lease_delete},
    {M_GET, "/v1/runs/:run/aliases", NULL, NULL, api_aliases},
    {M_GET | M_PUT | M_DELETE, "/v1/runs/:run/aliases/:name", api_json_begin, api_json_body,
     api_alias},
    {M_GET, "/v1/runs/:run/aliases/:name/blob", NULL, NULL, api_alias_blob},
    {M_GET, "/v1/runs/:run/resume", NULL, NULL, api_resume},
    {M_GET, "/v1/runs/:run/resume/blob", NULL, NULL, api_resume_blob},
    {M_GET | M_PUT | M_DELETE, "/v1/runs/:run/policy", api_json_begin, api_json_body, api_policy},
    {M_GET, "/v1/runs/:run/policy/plan", NULL, NULL, api_plan},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* The patterns in table order, for metric labels. */
static const char *const *patterns(void)
{
    static const char *names[N_ROUTES];
    for (size_t i = 0; i < N_ROUTES; i++)
        names[i] = routes[i].pattern;
    return names;
}

/* Does the pattern match the segments? Captures go to run/id. */
static bool match(const char *pattern, struct request *req, const char **run, const char **id,
                  const char **name)
{
    const char *p = pattern;
    size_t i = 0;

    while (*p == '/') {
        const char *end = strchr(p + 1, '/');
        size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
        if (i == req->n_segs)
            return false;
        const char *seg = req->segs[i++];
        if (len == 4 && memcmp(p + 1, ":run", 4) == 0)
            *run = seg;
        else if (len == 3 && memcmp(p + 1, ":id", 3) == 0)
            *id = seg;
        else if (len == 5 && memcmp(p + 1, ":name", 5) == 0)
            *name = seg;
        else if (strlen(seg) != len || memcmp(seg, p + 1, len) != 0)
            return false;
        p += len + 1;
    }
    return i == req->n_segs;
}

unsigned router_role(const struct route *route)
{
    if (route->handle == api_lease || route->handle == api_lease_delete)
        return ROLE_READ;
    return 0;
}

void router_match(struct request *req)
{
    unsigned allowed = 0;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *run = NULL, *id = NULL, *name = NULL;
        unsigned methods = routes[i].methods;
        if (methods & M_GET)
            methods |= M_HEAD;
        if (!match(routes[i].pattern, req, &run, &id, &name))
            continue;
        if (methods & req->method) {
            req->route = &routes[i];
            req->arg_run = run;
            req->arg_id = id;
            req->arg_name = name;
            return;
        }
        allowed |= methods;
    }
    if (!allowed) {
        respond_error(req, E_NOT_FOUND, "no such endpoint: %s", req->raw_uri);
        return;
    }
    char allow[64] = "";
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {M_GET, "GET"}, {M_HEAD, "HEAD"}, {M_PUT, "PUT"}, {M_POST, "POST"}, {M_DELETE, "DELETE"}};
    size_t len = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && len < sizeof(allow); i++) {
        if (allowed & names[i].bit)
            len += (size_t)snprintf(allow + len, sizeof(allow) - len, "%s%s", len ? ", " : "",
                                    names[i].name);
    }
    respond_error(req, E_METHOD_NOT_ALLOWED, "method not allowed here; allowed: %s", allow);
    respond_header(req, "Allow", allow);
}

size_t router_count(void)
{
    return N_ROUTES;
}

const char *const *router_patterns(void)
{
    return patterns();
}

size_t router_index(const struct route *r)
{
    if (!r)
        return N_ROUTES;
    return (size_t)(r - routes);
}

size_t router_lookup(struct request *req)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        const char *run = NULL, *id = NULL, *name = NULL;
        unsigned methods = routes[i].methods;
        if (methods & M_GET)
            methods |= M_HEAD;
        if ((methods & req->method) && match(routes[i].pattern, req, &run, &id, &name))
            return i;
    }
    return N_ROUTES;
}

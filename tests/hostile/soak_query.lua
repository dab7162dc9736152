-- soak_query.lua - wrk script for tests/integration/68_soak.sh: cycles through the read routes
-- (health, run list, latest, a listing page, best by loss and by a metric, one checkpoint's
-- metadata) and, at the end, prints every answer that was not 200 as `non-200: STATUS CODE xN`.
local paths = {
    "/healthz",
    "/v1/runs",
    "/v1/runs/soak-0/latest",
    "/v1/runs/soak-1/checkpoints?limit=10&order=desc",
    "/v1/runs/soak-2/best",
    "/v1/checkpoints/1",
    "/v1/runs/soak-3/best?metric=acc&mode=max",
    "/v1/runs/soak-4/checkpoints?order_by=loss&limit=5",
}
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    bad = {}
    n = 0
end

function request()
    n = n + 1
    return wrk.format("GET", paths[(n % #paths) + 1])
end

function response(status, headers, body)
    if status ~= 200 then
        local k = status .. " " .. (string.match(body or "", '"code":"([a-z_]+)"') or "-")
        bad[k] = (bad[k] or 0) + 1
    end
end

function done(summary, latency, requests)
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("bad")) do
            io.write(string.format("non-200: %s x%d\n", k, v))
        end
    end
    io.write(string.format("latency-p99-ms: %.1f\n", latency:percentile(99) / 1000))
end

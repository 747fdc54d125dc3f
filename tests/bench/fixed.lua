-- fixed.lua - one request again and again, no token: GET /v1/healthz
-- (tokend, and ceiling (a)) or, with BENCH_POST=1, POST {} to
-- /v1/auth/tokens/short (ceiling (b): the responder ignores the path).
-- Counts statuses like the other scripts; BENCH_FILE is not read.
local post = os.getenv("BENCH_POST") == "1"
local threads = {}

function setup(thread)
	threads[#threads + 1] = thread
end

function init(args)
	s2, s4, s5, so = 0, 0, 0, 0
	if post then
		req = wrk.format("POST", "/v1/auth/tokens/short",
		    { ["Content-Type"] = "application/json" }, "{}")
	else
		req = wrk.format("GET", "/v1/healthz")
	end
end

function request()
	return req
end

function response(status, headers, body)
	if status >= 200 and status < 300 then
		s2 = s2 + 1
	elseif status >= 500 then
		s5 = s5 + 1
	elseif status >= 400 then
		s4 = s4 + 1
	else
		so = so + 1
	end
end

function done(summary, latency, requests)
	local t = { s2 = 0, s4 = 0, s5 = 0, so = 0 }
	for _, thread in ipairs(threads) do
		for k, _ in pairs(t) do
			t[k] = t[k] + (thread:get(k) or 0)
		end
	end
	local e = summary.errors
	io.write(string.format("BENCH requests=%d duration_us=%d rps=%.1f "
	    .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d s2xx=%d s4xx=%d "
	    .. "s5xx=%d sother=%d sock_errors=%d exhausted=0\n",
	    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
	    latency:percentile(50), latency:percentile(90),
	    latency:percentile(99), latency.max, t.s2, t.s4, t.s5, t.so,
	    e.connect + e.read + e.write + e.timeout))
end

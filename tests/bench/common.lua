-- common.lua - what the wrk scripts of tests/bench share.
--
-- Each wrk thread reads its own slice of BENCH_FILE (line i goes to
-- thread i % BENCH_THREADS) and uses each line once, in order: every
-- request carries a token or a target no other request uses.  When a
-- thread runs out it stops (and says so: the pool was too small), or,
-- with BENCH_CYCLE=1 (reads only, and the 1,000,000-request RSS run),
-- starts its slice again.
--
-- Every request gets X-Request-Id RUN-THREAD-LINE (BENCH_RUN), which
-- tokend echoes and writes in the audit rows.  On a 2xx the script notes
-- what the request changed ("issued TOKEN_ID" from the body, "rotated
-- TOKEN_ID" or "revoked TOKEN_ID" from the line) with the request id,
-- and done() writes these to BENCH_OUT.ok so that run.sh can count the
-- rows the database really holds for them.  done() prints one line:
--   BENCH requests=N duration_us=N rps=N p50_us=N p90_us=N p99_us=N
--         max_us=N s2xx=N s4xx=N s5xx=N sother=N sock_errors=N exhausted=N
local M = {}

local function split(line)
	local f = {}
	for w in line:gmatch("%S+") do
		f[#f + 1] = w
	end
	return f
end

-- spec.build(fields, request_id) -> request string
-- spec.change(fields, body)      -> "issued ID" | "rotated ID" | "revoked ID" | nil
function M.install(spec)
	local threads = {}
	local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
	local run = os.getenv("BENCH_RUN") or "bench"
	local cycle = os.getenv("BENCH_CYCLE") == "1"
	local note = os.getenv("BENCH_NOTE") ~= "0"	-- 0: no list of changes

	function setup(thread)
		thread:set("tidx", #threads)
		threads[#threads + 1] = thread
	end

	function init(args)
		lines, ok = {}, {}
		pos, s2, s4, s5, so, exhausted, round = 0, 0, 0, 0, 0, 0, 0
		local i = 0
		for line in io.lines(os.getenv("BENCH_FILE")) do
			if i % nthreads == tidx then
				lines[#lines + 1] = line
			end
			i = i + 1
		end
	end

	function request()
		pos = pos + 1
		if pos > #lines and cycle then
			pos = 1
			round = round + 1
		end
		local line = lines[pos]
		if line == nil then
			exhausted = 1
			wrk.thread:stop()
			return wrk.format("GET", "/v1/healthz")
		end
		return spec.build(split(line), run .. "-" .. tidx .. "-" .. pos
		    .. (round > 0 and ("." .. round) or ""))
	end

	function response(status, headers, body)
		-- The authorizer's answers are lighttpd's: no X-Request-Id.
		local rid = headers["X-Request-Id"] or headers["x-request-id"] or ""
		local n = tonumber(rid:match("^" .. run .. "%-%d+%-(%d+)") or "")
		if status >= 200 and status < 300 then
			s2 = s2 + 1
			local what = note and n and spec.change(split(lines[n]), body)
			if what then
				ok[#ok + 1] = what .. " " .. rid
			end
		elseif status >= 500 then
			s5 = s5 + 1
		elseif status >= 400 then
			s4 = s4 + 1
		else
			so = so + 1
		end
	end

	function done(summary, latency, requests)
		local t = { s2 = 0, s4 = 0, s5 = 0, so = 0, exhausted = 0 }
		local out = os.getenv("BENCH_OUT")
		local f = out and io.open(out .. ".ok", "w")
		for _, thread in ipairs(threads) do
			for k, _ in pairs(t) do
				t[k] = t[k] + (thread:get(k) or 0)
			end
			if f then
				for _, line in ipairs(thread:get("ok") or {}) do
					f:write(line, "\n")
				end
			end
		end
		if f then
			f:close()
		end
		local e = summary.errors
		local secs = summary.duration / 1e6
		io.write(string.format("BENCH requests=%d duration_us=%d rps=%.1f "
		    .. "p50_us=%d p90_us=%d p99_us=%d max_us=%d s2xx=%d s4xx=%d "
		    .. "s5xx=%d sother=%d sock_errors=%d exhausted=%d\n",
		    summary.requests, summary.duration, summary.requests / secs,
		    latency:percentile(50), latency:percentile(90),
		    latency:percentile(99), latency.max, t.s2, t.s4, t.s5, t.so,
		    e.connect + e.read + e.write + e.timeout, t.exhausted))
	end
end

function M.token_id(body)
	return body:match('"token_id"%s*:%s*"([%x%-]+)"')
end

return M

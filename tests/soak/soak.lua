-- soak.lua - every kind of request tokend answers, in a fixed rotation,
-- for tests/soak/run.sh.  Each wrk thread sends SOAK_REQUESTS requests
-- (then stops), in rounds of 20:
--   9 from its slice of SOAK_FILE (tests/bench/mint.c's "warm" lines, each
--     used once while they last, then again from the start):
--       S TKL               POST /short with a long-term token        201
--       L CLIENT_ID TKC     POST /long, client_credentials            201
--       T CLIENT_ID TKC ID  POST /long, rotate by key                 201 (409 once
--                           a line comes round again past its overlap)
--       R TKL TARGET_ID     POST /TARGET_ID/revoke                    204
--       A TKS               GET /app/ok.txt through the authorizer    200, and the
--                           next A line: POST /introspect by the
--                           resource server SOAK_RS_KEY               200 active
--   H GET /healthz 200, Y GET /readyz 200, Z GET /status (every other time
--   ?format=prometheus) 200, J bad JSON 400, N unknown paths 404, M wrong
--   methods 405, B a body above max_body_bytes 413, C text/plain 415, and
--   three wrong credentials, each from an address of its own given in
--   X-Forwarded-For (lighttpd's mod_extforward, trusting 127.0.0.1): X a
--   long-term token with a wrong checksum, U a well-formed long-term token
--   nobody issued, K a well-formed key of an existing client that is not
--   its key (SOAK_FAKES lines "U TKL" and "K CLIENT_ID TKC"): 401, or 429
--   once that address has spent tokend's failure budget.  The other
--   requests come from 127.0.0.1, which never fails, so never meets 429.
-- Every request has X-Request-Id sk-KIND-THREAD-N, echoed by tokend, by
-- which its answer is counted under its kind; the authorizer's 200 is
-- lighttpd's (no X-Request-Id) and is known by its body.  done() prints
--   SOAK kind=K n=N bad=N statuses=CODE:N,...
--   SOAK_TOTAL requests=N s5xx=N bad=N unknown=N sock_errors=N ...
-- where bad counts answers outside the kind's expected statuses.
local nthreads = tonumber(os.getenv("SOAK_THREADS") or "1")
local limit = tonumber(os.getenv("SOAK_REQUESTS") or "1000")
local threads = {}

local expect = {
	S = { [201] = true }, L = { [201] = true }, T = { [201] = true, [409] = true },
	R = { [204] = true }, A = { [200] = true }, I = { [200] = true },
	H = { [200] = true }, Y = { [200] = true }, Z = { [200] = true },
	J = { [400] = true }, N = { [404] = true }, M = { [405] = true },
	B = { [413] = true }, C = { [415] = true },
	X = { [401] = true, [429] = true }, U = { [401] = true, [429] = true },
	K = { [401] = true, [429] = true },
}
local rotation = { "line", "line", "line", "line", "line", "line", "line", "line", "line",
	"H", "Y", "Z", "J", "N", "M", "B", "C", "X", "U", "K" }

local bad_json = {
	{ "/v1/auth/tokens/long", '{"grant_type":' },
	{ "/v1/auth/tokens/long", '{"grant_type":"client_credentials","grant_type":"rotate"}' },
	{ "/v1/auth/tokens/short", '{"ttl_seconds":NaN}' },
	{ "/v1/auth/tokens/short", '{"scope":"read","scope\\u0000x":"admin"}' },
	{ "/v1/auth/tokens/short", '{"audience":"\192\175"}' },
	{ "/v1/auth/tokens/long", '{"grant_type":"client_credentials","nope":1}' },
	{ "/v1/auth/tokens/short", '[1,2' },
	{ "/v1/auth/tokens/short", '{"ttl_seconds":1.5}' },
}
local not_found = { "/v1/nope", "/v1/auth/tokens/nope", "/v1/auth/tokens/a%2Fb/revoke",
	"/v1/auth/tokens/not-a-uuid/revoke/x" }
local wrong_method = { { "GET", "/v1/auth/tokens/long" }, { "PUT", "/v1/auth/tokens/short" },
	{ "DELETE", "/v1/auth/tokens/0b6c2c9e-6a0f-4a5e-9f0e-3c1d2b4a5e6f/revoke" },
	{ "POST", "/v1/healthz" } }
local big = '{"label":"' .. string.rep("x", 17000) .. '"}'

local function split(line)
	local f = {}
	for w in line:gmatch("%S+") do
		f[#f + 1] = w
	end
	return f
end

function setup(thread)
	thread:set("tidx", #threads)
	threads[#threads + 1] = thread
end

function init(args)
	lines, fakes_u, fakes_k = {}, {}, {}
	counts, total = {}, 0
	n, pos, a_turn = 0, 0, 0
	local i = 0
	for line in io.lines(os.getenv("SOAK_FILE")) do
		if i % nthreads == tidx then
			lines[#lines + 1] = split(line)
		end
		i = i + 1
	end
	for line in io.lines(os.getenv("SOAK_FAKES")) do
		local f = split(line)
		if f[1] == "U" then
			fakes_u[#fakes_u + 1] = f
		else
			fakes_k[#fakes_k + 1] = f
		end
	end
	rs_key = os.getenv("SOAK_RS_KEY")
end

local function json_post(path, rid, hdrs, body)
	hdrs["Content-Type"] = "application/json"
	hdrs["X-Request-Id"] = rid
	return wrk.format("POST", path, hdrs, body)
end

local function from_line(rid)
	pos = pos % #lines + 1
	local f = lines[pos]
	local k = f[1]
	if k == "A" then
		a_turn = a_turn + 1
		if a_turn % 2 == 0 then
			k = "I"
		end
	end
	rid = "sk-" .. k .. rid
	if k == "S" then
		return json_post("/v1/auth/tokens/short", rid, { ["Authorization"] = "Bearer " .. f[2] }, "{}")
	elseif k == "L" then
		return json_post("/v1/auth/tokens/long", rid, { ["X-Client-Key"] = f[3] },
		    '{"grant_type":"client_credentials","client_id":"' .. f[2] .. '"}')
	elseif k == "T" then
		return json_post("/v1/auth/tokens/long", rid, { ["X-Client-Key"] = f[3] },
		    '{"grant_type":"rotate","client_id":"' .. f[2] .. '","token_id":"' .. f[4] .. '"}')
	elseif k == "R" then
		return wrk.format("POST", "/v1/auth/tokens/" .. f[3] .. "/revoke",
		    { ["Authorization"] = "Bearer " .. f[2], ["X-Request-Id"] = rid }, "")
	elseif k == "A" then
		return wrk.format("GET", "/app/ok.txt",
		    { ["Authorization"] = "Bearer " .. f[2], ["X-Request-Id"] = rid })
	end
	return json_post("/v1/auth/tokens/introspect", rid, { ["X-Client-Key"] = rs_key },
	    '{"token":"' .. f[2] .. '"}')
end

function request()
	-- wrk calls request() once in thread 0 before the run to look at
	-- it (script_verify_request) and never sends that one: give it one
	-- that counts nothing and uses no line.
	if tidx == 0 and not looked_at then
		looked_at = true
		return wrk.format("GET", "/v1/healthz", { ["X-Request-Id"] = "sk-W-0-0" })
	end
	n = n + 1
	if n > limit then
		-- Its share sent: healthz, not counted, until every thread's
		-- answers are in and run.sh ends wrk (SIGINT; wrk itself would
		-- run for its whole -d).
		return wrk.format("GET", "/v1/healthz", { ["X-Request-Id"] = "sk-W-" .. tidx .. "-" .. n })
	end
	local k = rotation[(n - 1) % #rotation + 1]
	local tail = "-" .. tidx .. "-" .. n
	local v = math.floor((n - 1) / #rotation)
	if k == "line" then
		return from_line(tail)
	end
	local rid = "sk-" .. k .. tail
	if k == "H" then
		return wrk.format("GET", "/v1/healthz", { ["X-Request-Id"] = rid })
	elseif k == "Y" then
		return wrk.format("GET", "/v1/readyz", { ["X-Request-Id"] = rid })
	elseif k == "Z" then
		return wrk.format("GET", v % 2 == 0 and "/v1/status" or "/v1/status?format=prometheus",
		    { ["X-Request-Id"] = rid })
	elseif k == "J" then
		local b = bad_json[v % #bad_json + 1]
		return json_post(b[1], rid, {}, b[2])
	elseif k == "N" then
		return wrk.format("GET", not_found[v % #not_found + 1], { ["X-Request-Id"] = rid })
	elseif k == "M" then
		local m = wrong_method[v % #wrong_method + 1]
		return wrk.format(m[1], m[2], { ["X-Request-Id"] = rid }, m[1] ~= "GET" and "" or nil)
	elseif k == "B" then
		return json_post("/v1/auth/tokens/long", rid, {}, big)
	elseif k == "C" then
		return wrk.format("POST", "/v1/auth/tokens/long",
		    { ["Content-Type"] = "text/plain", ["X-Request-Id"] = rid }, "{}")
	end
	-- A wrong credential, from one of 32 addresses of this thread.
	local from = { ["X-Forwarded-For"] = "198.18." .. tidx .. "." .. (v % 32 + 1) }
	if k == "X" then
		-- A real token with one character changed: the checksum fails.
		local t = fakes_u[v % #fakes_u + 1][2]
		local c = t:sub(20, 20) == "a" and "b" or "a"
		from["Authorization"] = "Bearer " .. t:sub(1, 19) .. c .. t:sub(21)
		return json_post("/v1/auth/tokens/short", rid, from, "{}")
	elseif k == "U" then
		from["Authorization"] = "Bearer " .. fakes_u[v % #fakes_u + 1][2]
		return json_post("/v1/auth/tokens/short", rid, from, "{}")
	end
	local f = fakes_k[v % #fakes_k + 1]
	from["X-Client-Key"] = f[3]
	return json_post("/v1/auth/tokens/long", rid, from,
	    '{"grant_type":"client_credentials","client_id":"' .. f[2] .. '"}')
end

function response(status, headers, body)
	local rid = headers["X-Request-Id"] or headers["x-request-id"] or ""
	local k = rid:match("^sk%-(%u)%-")
	if k == nil and status == 200 and body == "soak-ok\n" then
		k = "A"
	end
	if k == "W" then
		return
	end
	k = k or "?"
	if k == "I" and status == 200 and not body:find('"active"%s*:%s*true') then
		status = 1200	-- answered, but not active: counted as bad
	end
	-- Flat "KIND:STATUS" keys: wrk copies only flat tables between threads.
	local key = k .. ":" .. status
	counts[key] = (counts[key] or 0) + 1
	total = total + 1
	if total == limit then
		local f = io.open(os.getenv("SOAK_DONE") .. "." .. tidx, "w")
		if f then
			f:close()
		end
	end
end

function done(summary, latency, requests)
	local all = {}
	for _, thread in ipairs(threads) do
		for key, m in pairs(thread:get("counts") or {}) do
			local k, s = key:match("^(.):(%d+)$")
			s = tonumber(s)
			all[k] = all[k] or {}
			all[k][s] = (all[k][s] or 0) + m
		end
	end
	local kinds = {}
	for k, _ in pairs(all) do
		kinds[#kinds + 1] = k
	end
	table.sort(kinds)
	local answered, s5, bad, unknown = 0, 0, 0, 0
	for _, k in ipairs(kinds) do
		local parts, kn, kbad = {}, 0, 0
		local codes = {}
		for s, _ in pairs(all[k]) do
			codes[#codes + 1] = s
		end
		table.sort(codes)
		for _, s in ipairs(codes) do
			local m = all[k][s]
			parts[#parts + 1] = s .. ":" .. m
			kn = kn + m
			if s >= 500 and s < 600 then
				s5 = s5 + m
			end
			if expect[k] == nil or not expect[k][s] then
				kbad = kbad + m
			end
		end
		if k == "?" then
			unknown = kn
		end
		answered = answered + kn
		bad = bad + kbad
		io.write(string.format("SOAK kind=%s n=%d bad=%d statuses=%s\n", k, kn, kbad,
		    table.concat(parts, ",")))
	end
	local e = summary.errors
	io.write(string.format("SOAK_TOTAL requests=%d answered=%d s5xx=%d bad=%d unknown=%d "
	    .. "sock_errors=%d duration_s=%.1f rps=%.0f p99_ms=%.1f max_ms=%.1f\n",
	    summary.requests, answered, s5, bad, unknown,
	    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
	    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
	    latency.max / 1000))
end

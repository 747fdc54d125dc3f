-- short.lua - POST /v1/auth/tokens/short, each request with its own
-- long-term token (lines: TKL).  See common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		return wrk.format("POST", "/v1/auth/tokens/short", {
			["Authorization"] = "Bearer " .. f[1],
			["Content-Type"] = "application/json",
			["X-Request-Id"] = rid,
		}, "{}")
	end,
	change = function(f, body)
		local id = bench.token_id(body)
		return id and ("issued " .. id)
	end,
}

-- revoke.lua - POST /v1/auth/tokens/{id}/revoke, each short-term token
-- revoked once, its parent as the Bearer (lines: TKL TARGET_ID).  See
-- common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		return wrk.format("POST", "/v1/auth/tokens/" .. f[2] .. "/revoke", {
			["Authorization"] = "Bearer " .. f[1],
			["X-Request-Id"] = rid,
		}, "")
	end,
	change = function(f, body)
		return "revoked " .. f[2]
	end,
}

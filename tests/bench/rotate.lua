-- rotate.lua - POST /v1/auth/tokens/long, grant rotate with the client
-- key, each long-term token rotated once (lines: CLIENT_ID TKC TOKEN_ID).
-- See common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		return wrk.format("POST", "/v1/auth/tokens/long", {
			["X-Client-Key"] = f[2],
			["Content-Type"] = "application/json",
			["X-Request-Id"] = rid,
		}, '{"grant_type":"rotate","client_id":"' .. f[1]
		    .. '","token_id":"' .. f[3] .. '"}')
	end,
	change = function(f, body)
		return "rotated " .. f[3]
	end,
}

-- long.lua - POST /v1/auth/tokens/long, grant client_credentials, the
-- clients in turn (lines: CLIENT_ID TKC).  See common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		return wrk.format("POST", "/v1/auth/tokens/long", {
			["X-Client-Key"] = f[2],
			["Content-Type"] = "application/json",
			["X-Request-Id"] = rid,
		}, '{"grant_type":"client_credentials","client_id":"' .. f[1] .. '"}')
	end,
	change = function(f, body)
		local id = bench.token_id(body)
		return id and ("issued " .. id)
	end,
}

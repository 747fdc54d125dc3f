-- mixed.lua - 80% short-term issuance, 15% long-term issuance, 5%
-- revocation, in the shuffled order of the lines (S TKL | L CLIENT_ID TKC
-- | R TKL TARGET_ID).  The warm-up pool has rotations (T CLIENT_ID TKC
-- TOKEN_ID) and authorizer checks (A TKS) too.  See common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		if f[1] == "S" then
			return wrk.format("POST", "/v1/auth/tokens/short", {
				["Authorization"] = "Bearer " .. f[2],
				["Content-Type"] = "application/json",
				["X-Request-Id"] = rid,
			}, "{}")
		elseif f[1] == "L" then
			return wrk.format("POST", "/v1/auth/tokens/long", {
				["X-Client-Key"] = f[3],
				["Content-Type"] = "application/json",
				["X-Request-Id"] = rid,
			}, '{"grant_type":"client_credentials","client_id":"' .. f[2] .. '"}')
		elseif f[1] == "T" then
			return wrk.format("POST", "/v1/auth/tokens/long", {
				["X-Client-Key"] = f[3],
				["Content-Type"] = "application/json",
				["X-Request-Id"] = rid,
			}, '{"grant_type":"rotate","client_id":"' .. f[2]
			    .. '","token_id":"' .. f[4] .. '"}')
		elseif f[1] == "A" then
			return wrk.format("GET", "/app/ok.txt", {
				["Authorization"] = "Bearer " .. f[2],
				["X-Request-Id"] = rid,
			})
		end
		return wrk.format("POST", "/v1/auth/tokens/" .. f[3] .. "/revoke", {
			["Authorization"] = "Bearer " .. f[2],
			["X-Request-Id"] = rid,
		}, "")
	end,
	change = function(f, body)
		if f[1] == "R" then
			return "revoked " .. f[3]
		elseif f[1] == "T" then
			return "rotated " .. f[4]
		elseif f[1] == "A" then
			return nil
		end
		local id = bench.token_id(body)
		return id and ("issued " .. id)
	end,
}

-- authz.lua - GET /app/ok.txt through the FastCGI authorizer, each request
-- with its own short-term token (lines: TKS; scope read, audience
-- example-app, as deploy/lighttpd/tokend-authorizer.conf requires).  The
-- authorizer writes nothing.  See common.lua.
package.path = (os.getenv("BENCH_LUA_DIR") or ".") .. "/?.lua;" .. package.path
local bench = require("common")

bench.install {
	build = function(f, rid)
		return wrk.format("GET", "/app/ok.txt", {
			["Authorization"] = "Bearer " .. f[1],
			["X-Request-Id"] = rid,
		})
	end,
	change = function(f, body)
		return nil
	end,
}

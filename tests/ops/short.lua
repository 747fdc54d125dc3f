-- short.lua - wrk script: POST /auth/tokens/short with the long-term
-- token in TOKEND_BEARER as a Bearer, an empty JSON object as the body.
--   TOKEND_BEARER=tkl_... wrk -t2 -c8 -d5s -s short.lua http://HOST/v1/auth/tokens/short
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEND_BEARER") or "")

-- POST /_tma/session with the launch data in $LOAD_BODY (a JSON file): session creation.
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
local f = assert(io.open(os.getenv("LOAD_BODY")))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

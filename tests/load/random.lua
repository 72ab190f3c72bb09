-- A random one of the bundle's 1,000 small files per request (paths from $LOAD_PATHS).
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
local paths = {}
for line in io.lines(os.getenv("LOAD_PATHS")) do paths[#paths + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end

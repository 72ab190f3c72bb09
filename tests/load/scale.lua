-- A random app of the scale benchmark per request: `host cookie` lines from $LOAD_HOSTS.
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
local hosts, cookies = {}, {}
for line in io.lines(os.getenv("LOAD_HOSTS")) do
  local host, cookie = line:match("^(%S+) (%S+)$")
  hosts[#hosts + 1], cookies[#cookies + 1] = host, cookie
end
math.randomseed(os.time())
request = function()
  local i = math.random(#hosts)
  return wrk.format("GET", "/", { Host = hosts[i], Cookie = cookies[i] })
end

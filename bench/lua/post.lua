-- S4: POST /api/posts with a bearer token, a published post with a title
-- never sent before (RUN makes titles unique across runs).
-- wrk -s post.lua URL -- TOKEN RUN
local token, run
local n = 0
local content = string.rep("Measure before you change anything, then measure again afterwards. ", 8)

function init(args)
  token, run = args[1], args[2]
end

function request()
  n = n + 1
  local body = string.format(
    '{"title":"Bench %s post %d","content":"%s","tags":["bench","performance"],"status":"published"}',
    run, n, content)
  return wrk.format("POST", "/api/posts",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end


-- S5: 90% reads, 10% writes. Of every 10 requests: one POST /api/posts
-- (as in post.lua), and nine reads alternating between the first page of
-- the list and a post by slug (as in slugs.lua).
-- wrk -s mix.lua URL -- TOKEN RUN SLUGS_FILE
local token, run
local slugs = {}
local n, s = 0, 0
local content = string.rep("Measure before you change anything, then measure again afterwards. ", 8)

function init(args)
  token, run = args[1], args[2]
  for line in io.lines(args[3]) do
    slugs[#slugs + 1] = line
  end
end

function request()
  n = n + 1
  if n % 10 == 0 then
    local body = string.format(
      '{"title":"Bench %s mix %d","content":"%s","tags":["bench","performance"],"status":"published"}',
      run, n, content)
    return wrk.format("POST", "/api/posts",
      { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
  elseif n % 2 == 0 then
    return wrk.format("GET", "/api/posts?limit=10")
  end
  s = s % #slugs + 1
  return wrk.format("GET", "/api/posts/" .. slugs[s])
end

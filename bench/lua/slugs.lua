-- S3: GET /api/posts/{slug}, walking through every seeded slug in turn.
-- wrk -s slugs.lua URL -- SLUGS_FILE
local slugs = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    slugs[#slugs + 1] = line
  end
  if #slugs == 0 then
    error("no slugs in " .. args[1])
  end
end

function request()
  i = i % #slugs + 1
  return wrk.format("GET", "/api/posts/" .. slugs[i])
end

-- search.lua: POST /v1/search with the token from TOKEN, rotating queries.
local token = os.getenv("TOKEN")
local queries = { "boundary layer transition", "heat transfer in hypersonic flow", "buckling of cylindrical shells",
                  "supersonic wing pressure distribution", "laminar flow separation", "panel flutter" }
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"query":"%s","k":10}', queries[(i % #queries) + 1])
  return wrk.format("POST", "/v1/search", { ["Authorization"] = "Bearer " .. token,
                                              ["Content-Type"] = "application/json" }, body)
end

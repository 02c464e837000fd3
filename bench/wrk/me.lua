-- me.lua: GET /v1/auth/me with the token from the TOKEN environment variable.
local token = os.getenv("TOKEN")
request = function()
  return wrk.format("GET", "/v1/auth/me", { ["Authorization"] = "Bearer " .. token })
end

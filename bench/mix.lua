-- The Beta 500 task mix of bench/vus100.js as a wrk script (used by bench/peers.sh): wrk sends one
-- request at a time per connection, so the mix is drawn per request with the weights the tally script
-- has per 8 iterations (10 requests): balance GET 4 (3 + the threshold check), AI search POST 2,
-- AI recommendations GET 1, deduction POST 3. wrk does not parse responses.
local hdrs = { ["Authorization"] = "Bearer mock-token-bench-1", ["Content-Type"] = "application/json" }
local reqs = {}

function init(args)
  local balance = wrk.format("GET", "/api/v1/beta/credits/balance", hdrs)
  local search = wrk.format("POST", "/api/v1/beta/ai-search", hdrs, '{"query":"q","limit":5}')
  local recommend = wrk.format("GET", "/api/v1/beta/ai-recommendations?limit=5", hdrs)
  local deduct = wrk.format("POST", "/api/v1/beta/credits/deduct", hdrs,
    '{"user_id":"bench-1","feature":"ai_search","usage_amount":1,"metadata":{}}')
  reqs = { balance, balance, balance, balance, search, search, recommend, deduct, deduct, deduct }
end

function request()
  return reqs[math.random(#reqs)]
end

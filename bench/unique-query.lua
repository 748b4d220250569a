-- wrk script: gives every request its own query string, so a cached route misses each
-- time. The run's start second and the thread's number keep runs and threads apart.
local run = os.time()
local counter = 0
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end

function request()
    counter = counter + 1
    return wrk.format(nil, wrk.path .. "?miss=" .. run .. "-" .. id .. "-" .. counter)
end

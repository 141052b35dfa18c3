import os, sys, time
if "serve" in " ".join(sys.argv) or sys.argv[:1] == ["-c"]:
    try:
        import roost.api.deps as d
        import roost.queries.feed as qf
        stats = {}
        def timed(name, fn, is_async):
            st = stats.setdefault(name, [0, 0])
            if is_async:
                async def w(*a, **k):
                    t = time.thread_time_ns()
                    # CPU of this coroutine's steps is not separable from others' across awaits; use wall-free approximation:
                    out = await fn(*a, **k)
                    st[0] += time.thread_time_ns() - t; st[1] += 1
                    return out
            else:
                def w(*a, **k):
                    t = time.thread_time_ns()
                    out = fn(*a, **k)
                    st[0] += time.thread_time_ns() - t; st[1] += 1
                    if name == "json_body" and st[1] % 2000 == 0:
                        with open(f"/tmp/s10/phase.{os.getpid()}.txt", "a") as f:
                            f.write(" ".join(f"{k}={v[0]/max(v[1],1)/1000:.1f}us" for k, v in stats.items()) + f" n={st[1]} proc_cpu_per_call={time.process_time()*1e6/st[1]:.0f}us\n")
                    return out
            return w
        d.json_body = timed("json_body", d.json_body, False)
    except Exception as e:
        pass

import socket, os, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
pid = os.fork()
if pid == 0:
    c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d: break
        c.send(d)
    os._exit(0)
cli = socket.create_connection(("127.0.0.1", port)); cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"x" * 100
for _ in range(3):
    n = 20000; t0 = os.times(); w = time.perf_counter()
    for _ in range(n):
        cli.send(msg); cli.recv(65536)
    t1 = os.times(); el = time.perf_counter() - w
    c0 = os.times()
    print(f"round trip wall {1e6*el/n:.1f} us; client cpu {1e6*(t1.user-t0.user+t1.system-t0.system)/n:.1f} us (sys {1e6*(t1.system-t0.system)/n:.1f})")
cli.close(); os.waitpid(pid, 0)

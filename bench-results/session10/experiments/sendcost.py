import socket, os, time, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
pid = os.fork()
if pid == 0:
    c, _ = srv.accept()
    while c.recv(1 << 20): pass
    os._exit(0)
cli = socket.create_connection(("127.0.0.1", port)); cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
head = b"x" * 120; body = b"y" * 10400; both = head + body
def run(fn, n=20000):
    t0 = os.times(); w = time.perf_counter()
    for _ in range(n): fn()
    t1 = os.times()
    return 1e6 * (t1.user - t0.user + t1.system - t0.system) / n, 1e6 * (t1.system - t0.system) / n
for _ in range(3):
    print("two sends: cpu %.1f us (sys %.1f)" % run(lambda: (cli.send(head), cli.send(body))))
    print("one send : cpu %.1f us (sys %.1f)" % run(lambda: cli.send(both)))
    print("small send: cpu %.1f us (sys %.1f)" % run(lambda: cli.send(head)))
cli.close(); os.waitpid(pid, 0)

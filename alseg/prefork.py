"""Pre-forked task interpreters for ``kfp.local`` (Linux): a local task forks from a warm
interpreter instead of starting Python and importing kfp, numpy, torch and MLflow again (about
5 s of a GPU task's start on 2 cores, 1 s of a CPU task's).

A task is ``sh -ec '... <python> -m kfp.dsl.executor_main ...'``. ``alseg.runner`` makes
``<python>`` a shim (``write_shim``: stdlib only, started with ``-S``) and starts ``serve`` beside
the pipeline: one server per kind (``cpu``, ``gpu``), each with its modules imported
(``alseg.runner.task_servers``: CPU tasks never get torch). The shim sends its argv, environment,
working directory and stdin/stdout/stderr to its kind's socket; the server forks the task (and
reports its exit status), which runs ``kfp.dsl.executor_main`` as ``python -m`` would (same argv,
environment, ``sys.path[0]``, exit handlers, exit status; a task killed by a signal kills its shim
with the same signal). A task that comes while its server still imports waits for it; with no
server, or for any other command, the shim execs the real interpreter. The task's code, inputs and
outputs are the same either way, so are caching and results (tests/unit/test_prefork.py).

Off with ``ALSEG_PREFORK=0`` and on other platforms; the runner also skips it where kfp.local has
no ``replace_python_executable`` hook.
"""

from __future__ import annotations

# the shim imports this module at every task's start: few, small imports (no json, re, ...)
import atexit
import marshal
import os
import signal
import socket
import struct
import sys
import time

EXECUTOR = "kfp.dsl.executor_main"
LIGHT = (EXECUTOR, "numpy", "yaml", "pydantic", "pyarrow.parquet")  # what every task imports
HEADER = struct.Struct("!Q")  # request length
STATUS = struct.Struct("!i")  # task pid, then exit code (-N: killed by signal N)


def enabled() -> bool:
    return sys.platform == "linux" and os.environ.get("ALSEG_PREFORK", "1") != "0"


# ---------------------------------------------------------------- shim (the task's "python")


def write_shim(path: str, python: str, sockets: str, kinds: dict[str, str]) -> str:
    """Write the executable shim at ``path``: argv -> the server at ``sockets`` (a folder), or
    exec ``python`` itself. ``kinds``: component function -> its server (default ``cpu``)."""
    source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = (
        f"#!{python} -S\n"
        f"import sys\nsys.path.insert(0, {source!r})\n"
        "from alseg.prefork import shim_main\n"
        f"shim_main({python!r}, {sockets!r}, {kinds!r})\n"
    )
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def shim_main(python: str, sockets: str, kinds: dict[str, str]) -> None:
    """Run ``python argv`` through the server, or exec ``python`` when it cannot serve."""
    argv = sys.argv[1:]
    if argv[:2] == ["-m", EXECUTOR]:
        function = _argument(argv, "--function_to_execute")
        kind = kinds.get(function or "", "cpu")
        code = _delegate(os.path.join(sockets, f"{kind}.sock"), argv)
        if code is not None:
            if code < 0:  # killed by a signal: die the same way
                if -code not in (signal.SIGKILL, signal.SIGSTOP):
                    signal.signal(-code, signal.SIG_DFL)
                os.kill(os.getpid(), -code)
            sys.exit(code)
    os.execv(python, [python, *argv])


def _argument(argv: list[str], flag: str) -> str | None:
    for i, value in enumerate(argv[:-1]):
        if value == flag:
            return argv[i + 1]
    return None


def _delegate(path: str, argv: list[str]) -> int | None:
    """Exit code of the task run by the server at ``path``; None when there is no server or it
    went away before starting the task."""
    request = marshal.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()})
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        socket.send_fds(conn, [HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        pid = _read_int(conn)
    except OSError:
        pid = None
    if pid is None:
        return None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _frame: os.kill(pid, s))
    code = _read_int(conn)
    return 1 if code is None else code


def _read_int(conn: socket.socket) -> int | None:
    data = b""
    while len(data) < STATUS.size:
        chunk = conn.recv(STATUS.size - len(data))
        if not chunk:
            return None
        data += chunk
    return STATUS.unpack(data)[0]


# ---------------------------------------------------------------- server


def serve(folder: str, servers: dict[str, list[str]], base: tuple[str, ...] = LIGHT) -> None:
    """Listen on ``<kind>.sock`` in ``folder`` for every kind at once (a task that comes early
    waits in the backlog instead of importing everything a second time), import ``base``, then
    fork one server per kind that imports its modules and serves its socket. Everything exits
    when the runner does."""
    listening = {kind: _bind(os.path.join(folder, f"{kind}.sock")) for kind in servers}
    _preload(base)
    runner, parent = os.getppid(), os.getpid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # reap the servers
    for kind, modules in servers.items():
        if os.fork() == 0:
            _warm_up(listening[kind], modules)
            _accept(listening[kind], parent)
        listening[kind].close()
    while os.getppid() == runner:
        time.sleep(1.0)


def _bind(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    return server


def _preload(modules: tuple[str, ...]) -> None:
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            pass  # an optional dependency: the task imports what it needs itself


_tasks: dict[int, socket.socket] = {}  # in a server: running task pid -> its shim's connection


def _report_exits(_signum: int = 0, _frame: object = None) -> None:
    """SIGCHLD handler of a server: send each exited task's status to its shim (also while the
    server imports: Python runs the handler between two bytecodes)."""
    while _tasks:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = _tasks.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(STATUS.pack(os.waitstatus_to_exitcode(status)))
            except OSError:
                pass  # the shim is gone
            conn.close()


def _warm_up(server: socket.socket, modules: list[str]) -> None:
    """Import ``modules`` one by one, starting the tasks that came meanwhile between two (they
    import the rest themselves, as they would in a fresh interpreter)."""
    signal.signal(signal.SIGCHLD, _report_exits)
    server.setblocking(False)
    for name in modules:
        _preload((name,))
        while True:
            try:
                conn, _ = server.accept()
            except BlockingIOError:
                break
            _start(server, conn)


def _accept(server: socket.socket, parent: int) -> None:
    """Start a task per connection until ``parent`` exits; never returns."""
    signal.signal(signal.SIGCHLD, _report_exits)
    server.settimeout(1.0)
    while os.getppid() == parent:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        _start(server, conn)
    os._exit(0)


def _start(server: socket.socket, conn: socket.socket) -> None:
    """Read one request, fork its task (one fork: the server reaps it, ``_report_exits``) and
    send the shim the task's pid. A broken request is dropped (the shim runs the task itself)."""
    try:
        request, fds = _receive(conn)
    except (OSError, ValueError):
        conn.close()
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})  # register before it can exit
    try:
        task = os.fork()
        if task == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            for other in [server, conn, *_tasks.values()]:
                other.close()
            _run_task(request, fds)
        _tasks[task] = conn
        try:
            conn.sendall(STATUS.pack(task))
        except OSError:
            pass  # the shim is gone; the task runs to its end all the same
    finally:
        for fd in fds:
            os.close(fd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request (argv, env, cwd) and the shim's stdin, stdout, stderr."""
    conn.settimeout(30.0)
    header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise ValueError("a request carries the shim's stdin, stdout and stderr")
    while len(header) < HEADER.size:
        header += conn.recv(HEADER.size - len(header))
    size, request = HEADER.unpack(header)[0], b""
    while len(request) < size:
        chunk = conn.recv(size - len(request))
        if not chunk:
            raise ValueError("request cut short")
        request += chunk
    conn.settimeout(None)
    return marshal.loads(request), fds


def _run_task(request: dict, fds: list[int]) -> None:
    """Become ``python -m kfp.dsl.executor_main ARGS`` with the shim's stdio, environment and
    working directory; exit with its status (exit handlers run, as at interpreter exit)."""
    import runpy
    import threading

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the handlers of a fresh interpreter
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-m", *request["argv"][2:]]
    sys.path[0] = os.getcwd()
    code = 0
    try:
        runpy.run_module(EXECUTOR, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = _exit_code(done.code)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        threading._shutdown()  # join non-daemon threads, as the interpreter does at exit
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    import json

    serve(sys.argv[1], json.loads(sys.argv[2]))

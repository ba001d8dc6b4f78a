# Attaches the agent at run time, as the script sys.remote_exec runs for
# pymemtrace-run --attach does: ctypes.PyDLL(agent).pymemtrace_attach(...)
# with the GIL held. argv: the agent's path, how ("self": this process
# calls it; "remote": a child of the same interpreter sends the script with
# sys.remote_exec, 3.14+), then the settings, one NAME=value each. Then 40
# MiB in grow(); prints what attaching returned and the hooks Python shows.
import os
import subprocess
import sys
import time

agent, how, settings = sys.argv[1], sys.argv[2], "\n".join(sys.argv[3:])
attached = None


def grow():
    return b"\x01" * (40 << 20)


if how == "self":
    import ctypes
    attached = ctypes.PyDLL(agent).pymemtrace_attach(settings.encode())
    again = ctypes.PyDLL(agent).pymemtrace_attach(settings.encode())
    print("again", again)
else:
    script = os.path.abspath("attach_script.py")
    with open(script, "w") as f:
        f.write("import ctypes, __main__\n"
                "__main__.attached = ctypes.PyDLL(%r).pymemtrace_attach(%r)\n" % (agent, settings.encode()))
    subprocess.run([sys.executable, "-c", "import sys; sys.remote_exec(%d, %r)" % (os.getpid(), script)],
                   check=True)
    deadline = time.monotonic() + 20
    while attached is None and time.monotonic() < deadline:
        time.sleep(0.02)
keep = grow()
print("attached", attached, "getprofile", sys.getprofile(), "gettrace", sys.gettrace())

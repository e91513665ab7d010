"""bench/netns.py - run a bench script in a fresh network namespace with
only lo up (as root, when unshare and ip exist), the same isolation as
the shared harness: nothing it starts can reach or be reached from
outside loopback."""
import os
import shutil
import sys


def reexec_in_netns(flag, script, required=False):
    """Re-execute script (its own __file__) with sys.argv under
    `unshare --net`, unless the environment variable flag says this is
    already the inner run, we are not root, or --no-netns was given.
    Without unshare or ip: carry on outside, or exit when required."""
    if (os.environ.get(flag) == "1" or os.geteuid() != 0
            or "--no-netns" in sys.argv):
        return
    if not shutil.which("unshare") or not shutil.which("ip"):
        if required:
            sys.exit(f"{os.path.basename(script)}: need unshare and ip"
                     " to isolate the network")
        return
    env = dict(os.environ, **{flag: "1"})
    inner = 'ip link set lo up && exec "$0" "$@"'
    argv = ["unshare", "--net", "--", "sh", "-c", inner, sys.executable,
            os.path.abspath(script)] + sys.argv[1:]
    os.execvpe("unshare", argv, env)

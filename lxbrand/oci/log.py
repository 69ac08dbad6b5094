"""--log / --log-format: where the runtime's errors go.

containerd's shim shows the user the last {"level":"error","msg":...} line of the --log file
when a command fails, so with --log-format json each line is one JSON object."""
import json
import os
import sys
import time

_path = None
_fmt = "text"
_debug = False


def configure(path=None, fmt="text", debug=False):
    global _path, _fmt, _debug
    _path, _fmt, _debug = path, (fmt or "text"), debug


def _emit(level, msg):
    if _fmt == "json":
        line = json.dumps({"level": level, "msg": msg,
                           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    else:
        line = f'time="{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}" level={level} msg="{msg}"'
    if _path:
        try:
            fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
            return
        except OSError:
            pass
    if _fmt == "json" or level != "error":
        sys.stderr.write(line + "\n")


def error(msg):
    _emit("error", msg)


def warning(msg):
    _emit("warning", msg)


def debug(msg):
    if _debug:
        _emit("debug", msg)

"""`python -m bench`: the same workloads natively, under lxrun and under its peers, side by side.

Modules, one per concern:
  harness    one run from start to finish (the CLI in __main__ only parses and calls it)
  build      compile the C programs (bench/programs, bench/floor) into a cache dir
  workloads  what is measured (each a real program) and how its output is checked
  runners    how each sandbox wraps a command, discovery, install hints
  method     warm-up, interleaved rounds, the correctness check of every run
  stats      median / min / max / ratio to native
  report     Markdown table, JSON with every sample, PNG chart
  compare    what got faster or slower against an older JSON
  machine    the machine description stored with the results
  progress   the progress bar
  handlers   Python syscall handlers that lxrun loads by name for the Python-handler workload
  apps/      `--suite apps`: real servers (redis, nginx, postgres, a WSGI app), a build, density
             and docker exec/run in containers under every Docker runtime, against runc
"""

# workloads first, whichever module of the package is imported: it registers bench/cri_pod.py's
# workload last, and cri_pod builds on runners, which builds on workloads' classes (importing
# bench.runners first would otherwise meet a half-initialised bench.runners in cri_pod)
from bench import workloads as _workloads  # noqa: E402,F401

"""`python -m bench --suite apps`: the numbers people choose a sandbox by — real servers in
containers under every Docker runtime, side by side with runc.

Modules, one per concern:
  image      the one image, from Debian packages (debootstrap + chroot apt-get + docker import),
             cached by the hash of its recipe; files/ holds what goes into it
  docker     the runners (a Docker runtime plus flags each) and the containers they run
  workloads  the apps, how each is loaded and how each answer is checked
  loadgen    the load generators' output (redis-benchmark, ab, pgbench), read and checked
  resp       a minimal Redis client for the redis checks
  procs      the processes of a container (shim, runtime, supervisor, container), their PSS and CPU time
  method     warm-up, interleaved rotated rounds, failures per row
  report     Markdown and the PNG chart from the JSON document
  harness    one run from start to finish
"""

"""One module per CLI verb.  Each has add_args(parser) and run(args, global_args) -> exit code;
lxbrand.cli.runtime.COMMANDS is the table."""

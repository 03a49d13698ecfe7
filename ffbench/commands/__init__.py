"""Click commands, one module per subcommand; `ffbench.cli` assembles them.

Each module keeps heavy imports (torch, diffusers) inside the command body so that
`ffbench --help` stays fast.
"""

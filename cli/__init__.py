"""The command line (`tgtwin …`, `python main.py …`): one module per command group, every command
registered explicitly in `cli.app`. Commands parse, call one domain function, and print."""

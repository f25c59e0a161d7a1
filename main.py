"""tgtwin's entry: `python main.py --help`. The commands live in `cli/`, the actions they call and
the composition root (`application/runtime.py`) in `application/`; installed, the same CLI is the
`tgtwin` command."""

from cli.app import app

if __name__ == "__main__":
    app()

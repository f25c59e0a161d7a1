"""tgtwin's entry: `python main.py --help`. The commands live in `cli/`, the composition root in
`app_runtime.py`; installed, the same CLI is the `tgtwin` command."""

from cli.app import app

if __name__ == "__main__":
    app()

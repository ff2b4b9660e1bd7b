"""The command line's entry point (``unseen``, ``python -m unseen``), kept light.

Loading the command line (numpy, PyAV, onnxruntime, pydantic) takes half a
second or more, and a Ctrl-C meanwhile printed Python's traceback, 15 lines,
to someone who had only changed their mind.  Nothing of unseen is loaded here
(the package loads its names on first use) until that can be caught.
"""

import signal
import sys


def main() -> None:
    try:
        from .cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: nothing was written\n")
        raise SystemExit(128 + signal.SIGINT) from None  # as the command line's own Ctrl-C
    run()


if __name__ == "__main__":
    main()

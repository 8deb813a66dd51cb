"""Exit codes of every `tiequan` command.

- 0: done.
- 1: done, but some input was rejected (bad lines or rows, each reported on stderr).
- 2: usage or configuration error: nothing was done.
- 3: a fault (a bug, or a component such as the database failing); one line on stderr,
  the traceback with ``-v``.
- 4: stopped by a signal (SIGTERM, SIGINT) before it finished: what was done is saved,
  the run is incomplete (``tiequan sweep``).
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_FAULT = 3
EXIT_STOPPED = 4
EXIT_INTERRUPTED = 130

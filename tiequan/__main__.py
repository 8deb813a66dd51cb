from __future__ import annotations

import sys

from tiequan.cli.main import main

sys.exit(main())

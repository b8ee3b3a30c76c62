"""`python -m app.cli`: the same as the llm-admin console script."""

import sys

from app.cli import main

sys.exit(main())

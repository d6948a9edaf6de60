"""`python -m kerattn ...` is the `kerattn` command."""

import sys

from kerattn_cli import main

sys.exit(main())

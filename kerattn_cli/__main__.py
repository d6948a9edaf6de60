import sys

from kerattn_cli import main

sys.exit(main())

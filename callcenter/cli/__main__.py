"""`python -m callcenter.cli`: the same command as the installed `callcenter`."""

import sys

from callcenter.cli import main

sys.exit(main())

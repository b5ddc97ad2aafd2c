"""`python -m sockspy`: the command line (`sockspy.cli`)."""

import sys

from sockspy.cli import main

if __name__ == "__main__":
    sys.exit(main())

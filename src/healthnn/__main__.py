import sys

from healthnn.cli import main

sys.exit(main())

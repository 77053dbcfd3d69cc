import sys

from jaffle_ops.cli import main

sys.exit(main())

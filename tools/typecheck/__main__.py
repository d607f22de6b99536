import sys

from tools.typecheck.run import main

sys.exit(main())

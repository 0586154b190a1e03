import sys

from erasure.standins.build import main

sys.exit(main())

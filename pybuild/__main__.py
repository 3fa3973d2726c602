import sys

from pybuild.main import main

sys.exit(main())

import sys

from yolov9.cli import main

sys.exit(main())

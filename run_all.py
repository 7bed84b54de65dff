"""Execute every notebook with papermill: `python run_all.py [--profile smoke|quick|full] [--only cifar10,...] [-p key=value]`.

The logic lives in lib/reporting/notebook_runner.py; `python run_all.py --help` lists the flags.
"""
import sys

from lib.reporting.notebook_runner import main

if __name__ == "__main__":
    sys.exit(main())

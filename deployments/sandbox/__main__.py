"""`python -m deployments.sandbox`: the same as `switchyard sandbox`."""

import sys

from deployments.sandbox.server import main_sandbox

sys.exit(main_sandbox())

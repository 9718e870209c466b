"""The web UI's end-to-end tests run from `make test-ui` (make/ui.mk), which builds the UI
and installs Chromium first and sets MEM0STACK_UI_E2E=1; the plain pytest run of `make test`
leaves them to that target instead of running them twice."""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("MEM0STACK_UI_E2E") else ["test_*.py"]

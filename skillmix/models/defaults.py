"""The one home of the model-entry defaults that config, backends and retries all read."""

from __future__ import annotations

TIMEOUT_S = 120.0  # per call
RETRIES = 8  # of transient failures: rate limits, 5xx, timeouts, dropped connections
BACKOFF_S = 1.0  # the first retry's wait; doubles, with jitter
BACKOFF_MAX_S = 60.0

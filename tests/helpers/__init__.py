"""Helpers shared by the tests: paths, a config factory, run-store readers, loopback wire
servers, official-record readers. Imported as `tests.helpers.<module>`."""

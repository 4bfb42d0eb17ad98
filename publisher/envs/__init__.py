"""Environment specs, env ids and Dockerfile rendering: pure functions, no Docker."""

"""Running an evaluation: the plan (everything validated up front), stored calls (store ->
budget -> limiter -> retry -> price -> store), the runner, the SQLite store, the estimate."""

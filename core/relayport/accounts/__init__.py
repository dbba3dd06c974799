"""Gateway keys kept in a store, their limits, budgets and balances, usage log, prices, reports.

`records` (what a key is, money units), `prices` (cost of a call), `store` (SQLite/PostgreSQL),
`live` (the running server's view: auth, admission, metering), `reports` (usage tables).
"""

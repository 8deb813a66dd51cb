"""`tiequan scheduler`: the nightly sweeps, run by APScheduler 3 in one active process.

- ``lease``: a lease document in the database; only its holder runs APScheduler.
- ``jobs``: one job per site profile in a MongoDB job store, with plain-string arguments.
- ``child``: each sweep is a child process (Twisted's reactor cannot restart), killed
  after a time limit; its run record says how it ended.
- ``service``: standby, takeover, heartbeat and step-down around those three.

This package starts processes and imports no crawler, pipeline or Scrapy code.
"""

"""SLOs and error budgets: SLI minute buckets, hourly rollups, multi-window burn-rate evaluation, rule export."""

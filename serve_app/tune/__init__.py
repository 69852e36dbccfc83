"""`switchyard tune`: autoscaling candidates load-tested offline, ranked under a p99 SLO."""

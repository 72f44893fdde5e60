"""/ops/incidents/: the live list, the detail page with its actions, the MTTA/MTTR report."""

"""Site profiles for new sites: check one against live or saved pages, draft one."""

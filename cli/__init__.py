"""`nobat`: the developers' and operators' command line."""

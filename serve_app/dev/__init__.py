"""Development helpers: the offline demo and the local Ray cluster it and the tests start."""

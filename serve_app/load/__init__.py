"""Load shapes and the open-loop load generator behind `switchyard load` and `switchyard tune`."""

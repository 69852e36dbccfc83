"""Routing learned from recorded outcomes: reading outcome tables and evaluating routers offline."""

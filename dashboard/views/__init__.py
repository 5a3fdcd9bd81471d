"""One module per view; every view is a function of the dashboard's state objects."""

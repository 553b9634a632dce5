"""The api function's routes, one Powertools ``Router`` per area of DESIGN §4."""

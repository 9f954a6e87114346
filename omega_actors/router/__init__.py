"""omega_actors.router: route each task to the cheapest compute layer that can do it."""

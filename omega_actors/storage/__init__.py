"""Storage: where omega_actors keeps what must outlive a process."""

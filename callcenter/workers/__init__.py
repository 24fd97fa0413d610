"""Several service processes on one machine: their roles, the supervisor that starts them, each worker."""

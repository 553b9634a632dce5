"""One construct per concern: storage, postgres, api, worker, monitoring."""

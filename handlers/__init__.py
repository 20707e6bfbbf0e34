"""What happens on each event: intake, lifecycle, admin commands and channel adapters."""

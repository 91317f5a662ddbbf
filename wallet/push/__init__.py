"""Push notifications: devices, the outbox, the dispatcher and its providers."""

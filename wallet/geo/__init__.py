"""Pure geometry for geofences: shape validation, metric distances and the in-process geofence index."""

//! Router: cache root, namespace and daemon paths (stub; being written).

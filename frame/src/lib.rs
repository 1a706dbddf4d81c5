//! FrameV1 envelope and zccache protocol messages (stub; being written).

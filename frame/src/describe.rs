//! One line for a response that was not the one asked for (an `Error`, a `VersionMismatch`, or a body of another kind), shared by the wrapper's and the broker's messages; it decides nothing about what the caller does next.

use crate::v1::response::Body;

/// A short description of an answer that was not the one asked for.
pub fn describe(body: &Body) -> String {
    match body {
        Body::Error(e) => format!("error: {}", e.message),
        Body::VersionMismatch(m) => format!(
            "protocol mismatch: the server speaks {} ({}), we speak {}",
            m.expected, m.peer_version_string, m.received
        ),
        _ => "an unexpected kind of answer".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Ack, Error, VersionMismatch};

    #[test]
    fn each_kind_of_answer_reads_as_one_line() {
        let error = Body::Error(Error {
            message: "empty request".into(),
        });
        assert_eq!(describe(&error), "error: empty request");
        let mismatch = Body::VersionMismatch(VersionMismatch {
            expected: 3,
            received: 2,
            peer_version_string: "0.2.0".into(),
        });
        assert_eq!(
            describe(&mismatch),
            "protocol mismatch: the server speaks 3 (0.2.0), we speak 2"
        );
        assert_eq!(describe(&Body::Ack(Ack {})), "an unexpected kind of answer");
    }
}

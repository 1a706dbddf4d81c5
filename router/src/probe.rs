//! The body of an identity probe reply, built by the daemon and checked by
//! the broker. It does not frame, send or time the probe; the frame crate
//! and the broker do.
//!
//! ```text
//! reply = nonce (32 bytes, echoed from the request) || identity JSON
//! ```
//!
//! The echoed nonce proves the answer is fresh; the identity proves that
//! the process behind the endpoint is the one the identity file names.

use crate::identity::{Identity, MAX_IDENTITY_LEN};

/// Length of a probe nonce.
pub const PROBE_NONCE_LEN: usize = 32;

/// The longest valid probe reply, for callers that bound their reads.
pub const MAX_PROBE_REPLY_LEN: usize = PROBE_NONCE_LEN + MAX_IDENTITY_LEN;

/// The daemon's reply to a probe carrying `nonce`.
pub fn probe_nonce_reply(nonce: &[u8; PROBE_NONCE_LEN], identity_json: &[u8]) -> Vec<u8> {
    let mut reply = Vec::with_capacity(PROBE_NONCE_LEN + identity_json.len());
    reply.extend_from_slice(nonce);
    reply.extend_from_slice(identity_json);
    reply
}

/// Whether `reply` echoes `nonce` and carries an identity naming the same
/// process and endpoint as `expected`: same pid, start time, boot id,
/// endpoint and protocol version. Other fields may legitimately differ
/// (a newer daemon may add or reword them) and are not compared.
pub fn check_probe_reply(nonce: &[u8; PROBE_NONCE_LEN], reply: &[u8], expected: &Identity) -> bool {
    let Some(json) = reply.strip_prefix(nonce.as_slice()) else {
        return false;
    };
    let Ok(got) = Identity::parse(json) else {
        return false;
    };
    got.pid == expected.pid
        && got.start_time == expected.start_time
        && got.boot_id == expected.boot_id
        && got.endpoint == expected.endpoint
        && got.protocol_version == expected.protocol_version
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::sample;

    const NONCE: [u8; 32] = [7; 32];

    #[track_caller]
    fn check(reply: &[u8], expected: bool) {
        assert_eq!(check_probe_reply(&NONCE, reply, &sample()), expected);
    }

    fn reply_with(change: impl FnOnce(&mut Identity)) -> Vec<u8> {
        let mut id = sample();
        change(&mut id);
        probe_nonce_reply(&NONCE, &id.to_json())
    }

    #[test]
    fn replies() {
        let good = probe_nonce_reply(&NONCE, &sample().to_json());
        assert_eq!(&good[..32], &NONCE);
        check(&good, true);
        check(&reply_with(|id| id.package_version = "9.9.9".into()), true);
        check(&reply_with(|id| id.started_at_unix_ms += 1), true);

        check(&reply_with(|id| id.pid += 1), false);
        check(&reply_with(|id| id.start_time += 1), false);
        check(&reply_with(|id| id.boot_id = "other".into()), false);
        check(
            &reply_with(|id| id.endpoint = "/elsewhere.sock".into()),
            false,
        );
        check(&reply_with(|id| id.protocol_version += 1), false);

        let mut wrong_nonce = good.clone();
        wrong_nonce[31] ^= 1;
        check(&wrong_nonce, false);
        check(&good[..32], false);
        check(&good[..good.len() - 3], false);
        check(&NONCE[..31], false);
        check(b"", false);
    }
}

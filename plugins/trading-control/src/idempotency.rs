//! `Idempotency-Key` on a POST: the first answer is kept 24 hours in the shared store,
//! per caller and key, and a repeat gets it again instead of sending a second command,
//! on whichever node it lands.

use archway_sdk::serde_json::{Value, json};
use archway_sdk::{Response, kv};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::failure::Failure;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// How long an answer is kept.
const KEEP_MS: u64 = 24 * 3_600_000;
/// A claim older than this whose answer never came (its node stopped) may be taken over.
const ABANDONED_MS: u64 = 60_000;

/// What is kept under a key.
#[derive(Serialize, Deserialize)]
struct Kept {
    /// The request it answers: method, path and body, hashed.
    fingerprint: String,
    /// When the first request claimed the key (Unix ms).
    claimed_at: u64,
    /// The answer, once there is one.
    answer: Option<Answer>,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    status: u16,
    body: String,
}

/// A key this request holds: its answer is kept by [`Claim::keep`].
pub struct Claim {
    key: String,
    fingerprint: String,
}

/// What the key says about this request.
pub enum Outcome {
    /// The first time: answer it, then keep the answer.
    First(Claim),
    /// Answered before: this is the answer.
    Repeat(Response),
}

/// Checks `key` (the header's value) for `subject`'s request `fingerprint` at `store_key`.
pub fn check(store_key: String, key: &str, request: &[u8]) -> Result<Outcome, Failure> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::invalid(
            "Idempotency-Key",
            key,
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    let fingerprint = digest(request);
    let claimed = Kept {
        fingerprint: fingerprint.clone(),
        claimed_at: clock::now_ms(),
        answer: None,
    };
    let claimed = encode(&claimed);
    let store = |e| Failure::store("check the idempotency key", &e);
    let mut expected: Option<Vec<u8>> = None;
    for _ in 0..3 {
        if kv::compare_and_swap(&store_key, expected.as_deref(), &claimed).map_err(store)? {
            return Ok(Outcome::First(Claim {
                key: store_key,
                fingerprint,
            }));
        }
        let Some(current) = kv::get(&store_key).map_err(store)? else {
            expected = None;
            continue;
        };
        let kept: Kept = archway_sdk::serde_json::from_slice(&current)
            .map_err(|_| Failure::corrupt("an idempotency record"))?;
        if kept.fingerprint != fingerprint {
            return Err(Failure::invalid(
                "Idempotency-Key",
                key,
                "was already used for a different request",
            ));
        }
        match kept.answer {
            Some(answer) => {
                let body: Value =
                    archway_sdk::serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                let mut response = Response::json(answer.status, &body);
                response
                    .headers
                    .push(("idempotent-replayed".to_owned(), "true".to_owned()));
                return Ok(Outcome::Repeat(response));
            }
            None if clock::now_ms().saturating_sub(kept.claimed_at) > ABANDONED_MS => {
                expected = Some(current);
            }
            None => {
                return Err(Failure::conflict(
                    "A request with this Idempotency-Key is still being processed",
                    json!({ "idempotency_key": key }),
                ));
            }
        }
    }
    Err(Failure::conflict(
        "A request with this Idempotency-Key is still being processed",
        json!({ "idempotency_key": key }),
    ))
}

impl Claim {
    /// Keeps `response` for repeats: answers below 500 for 24 hours; a server error
    /// releases the key so that a retry runs again.
    pub fn keep(self, status: u16, body: &Value) {
        let outcome = match status < 500 {
            true => {
                let kept = Kept {
                    fingerprint: self.fingerprint,
                    claimed_at: clock::now_ms(),
                    answer: Some(Answer {
                        status,
                        body: body.to_string(),
                    }),
                };
                kv::set(&self.key, &encode(&kept), Some(KEEP_MS))
            }
            false => kv::delete(&self.key).map(|_| ()),
        };
        if let Err(e) = outcome {
            archway_sdk::log(
                archway_sdk::Level::Warn,
                &format!(
                    "trading-control: idempotency key {} not kept: {e:?}",
                    self.key
                ),
            );
        }
    }
}

fn encode(kept: &Kept) -> Vec<u8> {
    archway_sdk::serde_json::to_vec(kept).expect("an idempotency record serialises")
}

/// SHA-256 as hex: a request's fingerprint, and a key's name in the store (so that no
/// subject and key can spell another's).
pub fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

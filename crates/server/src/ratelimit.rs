//! A token bucket in front of the sign-in endpoints: each `/panel/login` starts a pending login
//! and each `/panel/oauth/callback` costs a code exchange at Salesforce, so a flood of either
//! must be refused cheaply (HTTP 429) before it reaches memory or the org's limits.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Requests allowed at once on the sign-in endpoints (a whole team signing in after a restart).
pub const LOGIN_BURST: u32 = 60;
/// Requests per second the sign-in endpoints refill to.
pub const LOGIN_PER_SECOND: u32 = 10;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket shared by the routes it guards.
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    bucket: Mutex<Bucket>,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_second`.
    pub fn new(capacity: u32, per_second: u32) -> Self {
        Self {
            capacity: f64::from(capacity),
            per_second: f64::from(per_second.max(1)),
            bucket: Mutex::new(Bucket {
                tokens: f64::from(capacity),
                last: Instant::now(),
            }),
        }
    }

    /// Takes a token; on refusal, how long until the next one.
    pub fn try_take(&self) -> Result<(), Duration> {
        let mut b = match self.bucket.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let refill = now.duration_since(b.last).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + refill).min(self.capacity);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

/// Middleware: answers 429 with `Retry-After` when the bucket is empty.
pub async fn limit(State(bucket): State<Arc<TokenBucket>>, req: Request, next: Next) -> Response {
    match bucket.try_take() {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let secs = wait.as_secs().max(1).to_string();
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                "too many sign-in attempts: try again in a moment",
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_refuses_until_it_refills() {
        let b = TokenBucket::new(2, 1000);
        assert!(b.try_take().is_ok());
        assert!(b.try_take().is_ok());
        let wait = b
            .try_take()
            .expect_err("the third request in a row is refused");
        assert!(wait <= Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(b.try_take().is_ok());
    }
}

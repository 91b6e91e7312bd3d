//! A sender and its receivers under one fake clock, in the style of `quinn-proto`'s `Pair`:
//! a [`Registry`] of endpoints, a job queue of deliveries, a chaotic network, and one real
//! [`Receiver`] per endpoint that verifies every request it gets with the secrets it knows at
//! that moment. `step()` runs one attempt; `drive()` runs until the queue is empty.
//!
//! Admin operations (rotate, move, pause, resume, disable, reactivate, delete, resend, cancel)
//! can be made between steps, as a platform's users make them while deliveries are queued.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use lms_webhooks::delivery::{Delivery, GiveUpReason, Next, Outcome, RequestError, State};
use lms_webhooks::endpoint::{fan_out, Endpoint, EndpointStatus, Registry, UrlPolicy};
use lms_webhooks::profile::Profile;
use lms_webhooks::receiver::Receiver;
use lms_webhooks::signature::BodyHmacHex;
use lms_webhooks::{EncryptionKey, Envelope, Secret, Timestamp};

/// xorshift64*: deterministic chaos.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The platform kinds the simulation mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Standard Webhooks, canonical envelope.
    Standard,
    /// Learnybox: encrypted body, and Standard Webhooks headers the receiver also requires.
    Learnybox,
    /// Learnomy: hex body HMAC with an alphanumeric secret.
    Learnomy,
}

impl Kind {
    fn profile(self) -> Profile {
        match self {
            Kind::Standard => Profile::standard(),
            Kind::Learnybox => Profile::learnybox().with_signature_required(true),
            Kind::Learnomy => Profile::learnomy(),
        }
    }
}

/// What one receiver knows: the secrets it accepts (each until a time, or for good), and its
/// key for encrypted bodies.
#[derive(Debug, Clone)]
struct Known {
    kind: Kind,
    secrets: Vec<(Secret, Option<Timestamp>)>,
    key: Option<EncryptionKey>,
}

impl Known {
    fn receiver(&self, now: Timestamp) -> Receiver {
        let mut r = Receiver::new(self.kind.profile());
        for (secret, until) in &self.secrets {
            if until.is_none_or(|u| u > now) {
                r = r.with_secret(secret.clone());
            }
        }
        if let Some(key) = &self.key {
            r = r.with_key(key.clone());
        }
        r
    }
}

/// What the receivers' applications answer, after a successful verification.
pub fn chaos(rng: &mut Rng) -> Outcome {
    match rng.below(100) {
        0..=49 => Outcome::status(rng.pick(&[200, 201, 204])),
        50..=62 => Outcome::status(rng.pick(&[500, 502, 504])).with_body(b"upstream down"),
        63..=69 => Outcome::status(rng.pick(&[400, 404, 422])),
        // 410 disables the endpoint at once: rare, as in life.
        70 if rng.below(5) == 0 => Outcome::status(410),
        70 => Outcome::status(500),
        71..=76 => Outcome::status(429).with_retry_after(rng.below(7200).to_string()),
        77..=80 => Outcome::status(503).with_retry_after("Wed, 21 Oct 2099 07:28:00 GMT"),
        81..=87 => Outcome::Timeout,
        88..=92 => Outcome::error("connection reset by peer"),
        _ => Outcome::status(302),
    }
}

/// Counters a run reports.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    pub created: u64,
    pub attempts: u64,
    pub verified: u64,
    pub verify_failures: u64,
    pub misrouted: u64,
    pub done: u64,
    pub exhausted: u64,
    pub gone: u64,
    pub canceled: u64,
    pub ended_disabled: u64,
    pub ended_deleted: u64,
    pub held: u64,
    pub skipped: u64,
    pub rotations: u64,
    pub url_edits: u64,
    pub pauses: u64,
    pub disables: u64,
    pub deletes: u64,
    pub reactivations: u64,
    pub resends: u64,
    pub recoveries: u64,
    pub max_attempts: u32,
}

impl Totals {
    /// Deliveries that reached an end.
    pub fn finished(&self) -> u64 {
        self.done
            + self.exhausted
            + self.gone
            + self.canceled
            + self.ended_disabled
            + self.ended_deleted
    }
}

/// The sender, the network and the receivers.
pub struct Sim {
    pub now: Timestamp,
    pub rng: Rng,
    pub registry: Registry,
    pub policy: UrlPolicy,
    known: HashMap<String, Known>,
    /// Which endpoint listens at which URL: a request to any other URL is misrouted.
    routes: HashMap<String, String>,
    queue: BinaryHeap<Reverse<(Timestamp, u64)>>,
    pub live: HashMap<u64, Delivery>,
    /// Deliveries refused as held, parked by endpoint until its status changes.
    parked: HashMap<String, Vec<u64>>,
    /// Finished deliveries kept for resends (the newest few).
    pub finished: Vec<Delivery>,
    pub totals: Totals,
    next_key: u64,
    next_endpoint: u64,
    /// The host's view of "now" passes this long per attempt, at most.
    pub max_took: Duration,
}

impl Sim {
    pub fn new(seed: u64, start: Timestamp) -> Sim {
        Sim {
            now: start,
            rng: Rng(seed | 1),
            registry: Registry::new(),
            policy: UrlPolicy::new(),
            known: HashMap::new(),
            routes: HashMap::new(),
            queue: BinaryHeap::new(),
            live: HashMap::new(),
            parked: HashMap::new(),
            finished: Vec::new(),
            totals: Totals::default(),
            next_key: 0,
            next_endpoint: 0,
            max_took: Duration::from_secs(20),
        }
    }

    /// Adds an endpoint of `kind` and tells its receiver the secret (and key).
    pub fn add_endpoint(&mut self, kind: Kind) -> String {
        let n = self.next_endpoint;
        self.next_endpoint += 1;
        let id = format!("ep{n}");
        let url = format!("https://h{n}.example.com/hooks/v0");
        let (endpoint, shown) = Endpoint::create(self.now, id.clone(), &url, &self.policy)
            .expect("a public https URL passes");
        let endpoint = endpoint
            .with_profile(&kind.profile())
            .with_failure_rule(4, Duration::from_secs(30 * 86_400));
        let (endpoint, secret, key) = match kind {
            Kind::Standard => (endpoint, Secret::parse(&shown).unwrap(), None),
            Kind::Learnybox => {
                let key =
                    EncryptionKey::from_secret(&Secret::generate_alphanumeric().unwrap()).unwrap();
                (
                    endpoint.with_encryption(key.clone()),
                    Secret::parse(&shown).unwrap(),
                    Some(key),
                )
            }
            Kind::Learnomy => {
                let secret = Secret::generate_alphanumeric().unwrap();
                (
                    endpoint.with_signing(BodyHmacHex::learnomy(), secret.clone()),
                    secret,
                    None,
                )
            }
        };
        self.registry.add(endpoint).expect("no limit");
        self.known.insert(
            id.clone(),
            Known {
                kind,
                secrets: vec![(secret, None)],
                key,
            },
        );
        self.routes.insert(url, id.clone());
        id
    }

    /// Fans `envelope` out to the endpoints `ids` and queues every delivery (held ones too:
    /// they are refused as held when due, and parked).
    pub fn publish(&mut self, envelope: &Envelope, ids: &[String]) {
        let endpoints: Vec<Endpoint> = ids
            .iter()
            .filter_map(|id| self.registry.get(id).cloned())
            .collect();
        let out = fan_out(self.now, envelope, &endpoints).expect("the envelope serializes");
        self.totals.skipped += out.skipped.len() as u64;
        for d in out.deliveries.into_iter().chain(out.held) {
            self.enqueue(d, self.now);
            self.totals.created += 1;
        }
    }

    fn enqueue(&mut self, d: Delivery, due: Timestamp) {
        self.next_key += 1;
        self.queue.push(Reverse((due, self.next_key)));
        self.live.insert(self.next_key, d);
    }

    /// Runs the next due attempt. Returns false when nothing is queued.
    pub fn step(&mut self) -> bool {
        let Some(Reverse((due, key))) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(due);
        let mut d = self.live.remove(&key).expect("every queued key is live");
        let endpoint_id = d.endpoint_id().to_owned();
        let request = match self.registry.request(self.now, &mut d) {
            Ok(request) => request,
            Err(RequestError::Held { .. }) => {
                assert!(
                    matches!(d.state(), State::Pending { .. }),
                    "held is unchanged"
                );
                self.totals.held += 1;
                self.live.insert(key, d);
                self.parked.entry(endpoint_id).or_default().push(key);
                return true;
            }
            Err(RequestError::Ended { reason }) => {
                assert_eq!(
                    d.state(),
                    State::GaveUp {
                        reason,
                        at: self.now
                    }
                );
                self.finish(d);
                return true;
            }
            Err(RequestError::Finished(State::GaveUp {
                reason: GiveUpReason::Canceled,
                ..
            })) => {
                self.finish(d);
                return true;
            }
            Err(e) => panic!("a pending delivery builds its request: {e}"),
        };
        self.totals.attempts += 1;
        // The network: the request reaches whoever listens at its URL, if anyone does.
        let outcome = match self.routes.get(&request.uri().to_string()) {
            Some(listener) if *listener == endpoint_id => {
                let known = &self.known[listener];
                match known.receiver(self.now).receive_request(self.now, &request) {
                    Ok(received) => {
                        assert_eq!(received.id, d.event_id());
                        self.totals.verified += 1;
                        chaos(&mut self.rng)
                    }
                    Err(e) => {
                        self.totals.verify_failures += 1;
                        eprintln!("receiver {listener} refused a request: {e}");
                        Outcome::status(e.http_status().as_u16())
                    }
                }
            }
            _ => {
                self.totals.misrouted += 1;
                Outcome::error("connection refused")
            }
        };
        let took = Duration::from_millis(self.rng.below(self.max_took.as_millis() as u64 + 1));
        let ended = self.now.saturating_add(took);
        let next = self
            .registry
            .record(ended, &mut d, outcome)
            .expect("an in-flight delivery records");
        match next {
            Next::RetryAt(at) => {
                assert!(at >= ended, "a retry is never scheduled in the past");
                self.enqueue(d, at);
            }
            Next::Done => {
                let last = d.attempts().last().expect("an attempt was logged");
                assert!(
                    matches!(last.outcome, Outcome::Response { status, .. } if (200..300).contains(&status))
                );
                self.finish(d);
            }
            Next::GaveUp(_) => self.finish(d),
        }
        true
    }

    fn finish(&mut self, d: Delivery) {
        self.totals.max_attempts = self.totals.max_attempts.max(d.attempt_count());
        match d.state() {
            State::Done => self.totals.done += 1,
            State::GaveUp { reason, .. } => match reason {
                GiveUpReason::Exhausted => self.totals.exhausted += 1,
                GiveUpReason::Gone => self.totals.gone += 1,
                GiveUpReason::Canceled => self.totals.canceled += 1,
                GiveUpReason::EndpointDisabled => self.totals.ended_disabled += 1,
                GiveUpReason::EndpointDeleted => self.totals.ended_deleted += 1,
                other => panic!("unexpected reason {other:?}"),
            },
            other => panic!("finished in state {other:?}"),
        }
        if self.finished.len() >= 256 {
            let i = self.rng.below(256) as usize;
            self.finished.swap_remove(i);
        }
        self.finished.push(d);
    }

    /// Runs until nothing is queued (parked deliveries wait for their endpoint).
    pub fn drive(&mut self) {
        while self.step() {}
    }

    /// Queues again what was parked for `id` (its status changed, or it was deleted).
    fn unpark(&mut self, id: &str) {
        for key in self.parked.remove(id).unwrap_or_default() {
            self.queue.push(Reverse((self.now, key)));
        }
    }

    /// Rotates the secret; the receiver learns the new one and keeps the old for `grace`.
    pub fn rotate(&mut self, id: &str, grace: Duration) {
        let now = self.now;
        let Some(e) = self.registry.get_mut(id) else {
            return;
        };
        let shown = e.rotate_secret(now, grace).expect("the OS has randomness");
        let known = self.known.get_mut(id).expect("known");
        for (_, until) in &mut known.secrets {
            let end = now.saturating_add(grace);
            *until = Some(until.map_or(end, |u| u.min(end)));
        }
        known.secrets.push((Secret::parse(&shown).unwrap(), None));
        self.totals.rotations += 1;
    }

    /// Moves the endpoint to a new URL; the receiver listens there from now on, and nowhere
    /// else.
    pub fn move_url(&mut self, id: &str) {
        let n = self.rng.next() % 1_000_000;
        let Some(e) = self.registry.get_mut(id) else {
            return;
        };
        let old = e.url().to_string();
        let new = format!("https://{}/hooks/v{n}", e.url().host());
        e.set_url(self.now, &new, &self.policy).unwrap();
        self.routes.remove(&old);
        self.routes.insert(new, id.to_owned());
        self.totals.url_edits += 1;
    }

    pub fn pause(&mut self, id: &str) {
        if let Some(e) = self.registry.get_mut(id) {
            e.pause(self.now);
            self.totals.pauses += 1;
        }
    }

    pub fn resume(&mut self, id: &str) {
        if let Some(e) = self.registry.get_mut(id) {
            e.resume(self.now);
        }
        self.unpark(id);
    }

    pub fn reactivate(&mut self, id: &str) {
        if let Some(e) = self.registry.get_mut(id) {
            if e.status() != EndpointStatus::Active {
                e.reactivate(self.now);
                self.totals.reactivations += 1;
            }
        }
        self.unpark(id);
    }

    pub fn disable(&mut self, id: &str) {
        if let Some(e) = self.registry.get_mut(id) {
            e.disable(self.now);
            self.totals.disables += 1;
        }
        self.unpark(id);
    }

    /// Deletes the endpoint; its receiver stops listening.
    pub fn delete(&mut self, id: &str) {
        if let Ok(e) = self.registry.remove(id) {
            self.routes.remove(&e.url().to_string());
            self.totals.deletes += 1;
        }
        self.unpark(id);
    }

    /// Resends one finished delivery, by hand: it is live again and will end again.
    pub fn resend_one(&mut self) {
        if self.finished.is_empty() {
            return;
        }
        let i = self.rng.below(self.finished.len() as u64) as usize;
        let mut d = self.finished.swap_remove(i);
        d.resend(self.now, "sim", "resend from the dashboard")
            .expect("a finished delivery can be resent");
        assert_eq!(d.next_due(), Some(self.now));
        self.enqueue(d, self.now);
        self.totals.resends += 1;
    }

    /// Recovers the deliveries of `id` that gave up since `since`, among those kept.
    pub fn recover(&mut self, id: &str, since: Timestamp) {
        let (mut mine, rest): (Vec<Delivery>, Vec<Delivery>) =
            self.finished.drain(..).partition(|d| d.endpoint_id() == id);
        self.finished = rest;
        let n = lms_webhooks::delivery::recover(self.now, &mut mine, id, since, "sim", "recover");
        for d in mine {
            if d.is_finished() {
                self.finished.push(d);
            } else {
                self.enqueue(d, self.now);
            }
        }
        self.totals.recoveries += n as u64;
    }

    /// Cancels one queued delivery, by hand. It stays queued: when due, the queue finds it
    /// finished and counts it.
    pub fn cancel_one(&mut self) {
        let Some(&key) = self.live.keys().next() else {
            return;
        };
        let d = self.live.get_mut(&key).expect("live");
        if matches!(d.state(), State::Pending { .. }) {
            d.cancel(self.now, "sim", "canceled from the dashboard")
                .expect("a pending delivery can be canceled");
        }
    }

    /// Every delivery made or revived has ended once, and nothing is queued or parked.
    pub fn assert_all_ended(&self) {
        assert!(
            self.queue.is_empty() && self.live.is_empty(),
            "nothing left"
        );
        assert!(self.parked.values().all(Vec::is_empty), "nothing parked");
        let t = &self.totals;
        assert_eq!(
            t.finished(),
            t.created + t.resends + t.recoveries,
            "every delivery ends exactly once: {t:?}"
        );
        assert_eq!(t.verify_failures, 0, "every request verifies");
        assert_eq!(
            t.misrouted, 0,
            "every request goes to the endpoint's current URL"
        );
    }

    /// Ids of the endpoints that are not active now.
    pub fn inactive_ids(&self) -> Vec<String> {
        self.registry
            .endpoints()
            .iter()
            .filter(|e| e.status() != EndpointStatus::Active)
            .map(|e| e.id().to_owned())
            .collect()
    }

    /// Ids of the endpoints that exist now.
    pub fn endpoint_ids(&self) -> Vec<String> {
        self.registry
            .endpoints()
            .iter()
            .map(|e| e.id().to_owned())
            .collect()
    }
}

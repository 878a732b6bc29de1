//! The lock of an `s3://` lake: the object `<prefix>_run_lock`, whose JSON body names its holder
//! (host, pid, run id) and the end of its lease.
//!
//! - **Take**: PutObject with `If-None-Match: *`. Only one of any number of concurrent puts
//!   succeeds; the others get 412 (or 409 while a put is in flight) and read the lock.
//! - **Held by a live run** (lease not over): the run exits 2 naming the holder
//!   ([`Error::Locked`]).
//! - **Take over** a lock whose lease is over, or whose holder is a process of this machine
//!   that no longer exists (same host, boot and pid namespace; pid gone, a zombie, or reused
//!   by a process that started later): PutObject with `If-Match: <the stale lock's ETag>`, so
//!   of two runs taking over the same stale lock, exactly one wins.
//! - **Renew**: every third of the lease, a thread rewrites the body with a later expiry, with
//!   `If-Match` on the ETag of its own last write. A 412 means another run took the lock
//!   over (this run stalled past its lease): the lock is marked lost, and [`S3Lock::check`]
//!   stops the run before it commits anything.
//! - **Release**: DeleteObject, only while the lock is still ours and its lease not over (so
//!   that nobody can have taken it over). No `If-Match` on the delete: LocalStack 4.4.0
//!   ignores it on DeleteObject, and it is not needed under a valid lease.
//!
//! Every put of the lock is conditional, hence not idempotent, and goes through the S3 layer's
//! rule for such writes ([`crate::s3::retry::Retrier::write_conditional`]): a put whose answer was lost
//! (timeout, reset) is not sent again before the lock is read back, and a failed condition
//! (412, 409 while another put is in flight, 404 for `If-Match` on a lock that is gone) is
//! read back too, because our own earlier attempt may have landed: if the lock holds our
//! holder and expiry, the write was ours. Reads and the release are retried as idempotent.
//!
//! The lease is judged with the local clock against the holder's `expires_at`: hosts must keep
//! their clocks in sync (NTP); the default lease (10 minutes) dwarfs any sane skew.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Error;
use crate::s3::retry::Written;
use crate::s3::{call, Class, S3Error, Session, S3};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id`: the same host name on another machine, or after a
    /// reboot, is not the same machine.
    pub boot_id: String,
    /// The pid namespace (`/proc/self/ns/pid`): a pid means nothing outside it.
    pub pid_ns: String,
    /// Process id.
    pub pid: u32,
    /// The process's start time (clock ticks since boot), to tell a reused pid apart.
    pub pid_start: u64,
    /// The run's id.
    pub run_id: String,
}

impl Holder {
    /// This process, running `run_id`.
    pub fn current(run_id: &str) -> Holder {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let pid = std::process::id();
        Holder {
            host: read("/proc/sys/kernel/hostname"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            pid,
            pid_start: process_start(pid).unwrap_or(0),
            run_id: run_id.to_owned(),
        }
    }

    /// Whether this holder is a process of `me`'s machine and pid namespace that is gone. A
    /// holder elsewhere is never judged gone (its lease decides).
    pub fn gone_from(&self, me: &Holder) -> bool {
        let same_place = !self.boot_id.is_empty()
            && !self.pid_ns.is_empty()
            && self.host == me.host
            && self.boot_id == me.boot_id
            && self.pid_ns == me.pid_ns;
        same_place && process_start(self.pid) != Some(self.pid_start)
    }

    fn describe(&self) -> String {
        format!("host {}, pid {}, run {}", self.host, self.pid, self.run_id)
    }
}

/// Start time of a live (not zombie) process, from `/proc/<pid>/stat` field 22.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X") | None) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The lock object's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockBody {
    /// Format version (1).
    pub v: u32,
    /// The holder.
    #[serde(flatten)]
    pub holder: Holder,
    /// When the holder took the lock (RFC 3339).
    pub acquired_at: String,
    /// End of the lease (RFC 3339); renewed while the run lives.
    pub expires_at: String,
    /// Lease length, seconds.
    pub lease_secs: u64,
}

impl LockBody {
    fn expires(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.expires_at)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// Whether a lock's lease is over, or its holder is gone from this machine.
pub fn is_stale(body: &LockBody, me: &Holder, now: DateTime<Utc>) -> bool {
    body.expires().is_none_or(|t| t <= now) || body.holder.gone_from(me)
}

enum Cond {
    Absent,
    Matches(String),
}

struct State {
    body: LockBody,
    etag: String,
    lost: Option<String>,
}

/// A held lock of an `s3://` lake. Call [`S3Lock::release`] when done; a lock that is only
/// dropped (the process dies) is taken over by the next run after its lease, or at once by
/// a run on the same machine.
pub struct S3Lock<'a> {
    s3: &'a S3,
    bucket: String,
    key: String,
    lake: String,
    lease: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for S3Lock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Lock(s3://{}/{})", self.bucket, self.key)
    }
}

/// Stops the renewal thread when dropped.
#[derive(Debug)]
pub struct KeepAlive {
    _stop: std::sync::mpsc::Sender<()>,
}

const ACQUIRE_ATTEMPTS: usize = 5;

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<'a> S3Lock<'a> {
    /// Takes the lock `key` of the lake `lake` (its URL, for messages) for `holder`, or fails
    /// with [`Error::Locked`] naming the live holder.
    pub fn acquire(
        s3: &'a S3,
        bucket: &str,
        key: &str,
        lake: &str,
        lease: Duration,
        holder: Holder,
    ) -> Result<S3Lock<'a>, Error> {
        let me = holder.clone();
        let t = now();
        let body = LockBody {
            v: 1,
            holder,
            acquired_at: rfc3339(t),
            expires_at: rfc3339(t + lease),
            lease_secs: lease.as_secs(),
        };
        let lock = S3Lock {
            s3,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            lake: lake.to_owned(),
            lease,
            state: Mutex::new(State {
                body,
                etag: String::new(),
                lost: None,
            }),
        };
        for _ in 0..ACQUIRE_ATTEMPTS {
            if lock.put(lock.body(), Cond::Absent)? {
                tracing::info!(lock = %lock.url(), "took the lake lock");
                return Ok(lock);
            }
            let Some((current, etag)) = lock.read()? else {
                continue; // released meanwhile
            };
            if current.holder == me {
                return Ok(lock.adopt(etag)); // our own put, answered with 412 on a retry
            }
            if !is_stale(&current, &me, now()) {
                return Err(Error::Locked {
                    lake: lock.lake.clone(),
                    holder: current.holder.describe(),
                    until: current.expires_at.clone(),
                });
            }
            tracing::warn!(
                lock = %lock.url(),
                holder = %current.holder.describe(),
                expires_at = %current.expires_at,
                "taking over a stale lake lock"
            );
            crate::crashpoint::pause("lock:takeover");
            let mut body = lock.body();
            let t = now();
            body.acquired_at = rfc3339(t);
            body.expires_at = rfc3339(t + lease);
            if lock.put(body, Cond::Matches(etag))? {
                return Ok(lock);
            }
            // Another run took it over first, or it changed: look again.
        }
        let holder = lock
            .read()?
            .map(|(b, _)| b.holder.describe())
            .unwrap_or_else(|| "contended".into());
        Err(Error::Locked {
            lake: lock.lake.clone(),
            holder,
            until: "unknown".into(),
        })
    }

    fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn adopt(self, etag: String) -> S3Lock<'a> {
        self.state.lock().expect("lock state").etag = etag;
        self
    }

    fn body(&self) -> LockBody {
        self.state.lock().expect("lock state").body.clone()
    }

    /// Writes `body` under `cond`; once written, it is the lock's body as far as
    /// [`S3Lock::check`] is concerned. `Ok(false)`: the condition failed and the lock is not
    /// (or no longer) ours.
    fn put(&self, body: LockBody, cond: Cond) -> Result<bool, Error> {
        let bytes = serde_json::to_vec_pretty(&body).expect("lock body serialises");
        let s = self.s3.session();
        let send = || {
            let req = s
                .client()
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .body(ByteStream::from(bytes.clone()));
            let req = match &cond {
                Cond::Absent => req.if_none_match("*"),
                Cond::Matches(etag) => req.if_match(etag),
            };
            async {
                let out = call("PutObject", false, req.send())
                    .await
                    .map_err(|c| S3Error::new(&self.bucket, &self.key, c))?;
                Ok::<_, Error>(out.e_tag().unwrap_or_default().to_owned())
            }
        };
        // An earlier attempt that landed: the lock holds exactly what we wrote.
        let ours = || async {
            Ok(match fetch_lock(s, &self.bucket, &self.key).await? {
                Some((current, etag))
                    if current.holder == body.holder && current.expires_at == body.expires_at =>
                {
                    Some(etag)
                }
                _ => None,
            })
        };
        match self
            .s3
            .block_on(s.retrier().write_conditional(send, ours))?
        {
            Written::Ours(etag) => {
                let mut st = self.state.lock().expect("lock state");
                st.etag = etag;
                st.body = body;
                Ok(true)
            }
            Written::ConditionFailed => Ok(false),
        }
    }

    /// The lock object and its ETag, if there is one.
    fn read(&self) -> Result<Option<(LockBody, String)>, Error> {
        read_lock(self.s3, &self.bucket, &self.key)
    }

    /// Extends the lease (one renewal).
    pub fn renew(&self) -> Result<(), Error> {
        let (mut body, etag) = {
            let st = self.state.lock().expect("lock state");
            if st.lost.is_some() {
                return Ok(());
            }
            (st.body.clone(), st.etag.clone())
        };
        body.expires_at = rfc3339(now() + self.lease);
        if self.put(body, Cond::Matches(etag))? {
            tracing::debug!(lock = %self.url(), "renewed the lake lock");
        } else {
            let holder = self
                .read()?
                .map(|(b, _)| b.holder.describe())
                .unwrap_or_else(|| "nobody: the lock object is gone".into());
            tracing::error!(lock = %self.url(), holder = %holder, "lost the lake lock");
            self.state.lock().expect("lock state").lost =
                Some(format!("it is now held by {holder}"));
        }
        Ok(())
    }

    /// Renews the lease every third of it on a thread of `scope` until the returned guard is
    /// dropped. A failed renewal is logged and tried again at the next tick.
    pub fn keep_alive<'scope, 'env>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
    ) -> KeepAlive
    where
        'a: 'scope,
    {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let every = self.lease / 3;
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                if let Err(e) = self.renew() {
                    tracing::warn!(lock = %self.url(), error = %e, "could not renew the lake lock; trying again");
                }
            }
        });
        KeepAlive { _stop: tx }
    }

    /// Fails if the lock was lost, or its lease ran out because renewals failed: the run must
    /// not commit. Reads the lock object, so a takeover since the last renewal is seen too.
    pub fn check(&self) -> Result<(), Error> {
        self.check_held()?;
        let ours = self.body().holder;
        let now_held_by = match self.read()? {
            Some((current, _)) if current.holder == ours => return Ok(()),
            Some((current, _)) => current.holder.describe(),
            None => "nobody: the lock object is gone".into(),
        };
        let why = format!("it is now held by {now_held_by}");
        self.state.lock().expect("lock state").lost = Some(why.clone());
        Err(Error::LockLost {
            lake: self.lake.clone(),
            reason: why,
        })
    }

    /// [`S3Lock::check`] without reading the lock object: lost at a renewal, or lease over.
    fn check_held(&self) -> Result<(), Error> {
        let st = self.state.lock().expect("lock state");
        if let Some(why) = &st.lost {
            return Err(Error::LockLost {
                lake: self.lake.clone(),
                reason: why.clone(),
            });
        }
        if st.body.expires().is_none_or(|t| t <= now()) {
            return Err(Error::LockLost {
                lake: self.lake.clone(),
                reason: format!("its lease ran out at {}", st.body.expires_at),
            });
        }
        Ok(())
    }

    /// Deletes the lock if it is still ours under a valid lease; otherwise leaves it (it is
    /// someone else's, or expired and free to take over).
    pub fn release(self) {
        if let Err(e) = self.check_held() {
            tracing::warn!(error = %e, "not releasing the lake lock");
            return;
        }
        let ours = self.state.lock().expect("lock state").body.holder.clone();
        match self.read() {
            Ok(Some((current, _))) if current.holder == ours => {
                let deleted = self
                    .s3
                    .block_on(self.s3.session().delete(&self.bucket, &self.key));
                match deleted {
                    Ok(()) => tracing::info!(lock = %self.url(), "released the lake lock"),
                    Err(e) => {
                        tracing::warn!(lock = %self.url(), error = %e, "could not release the lake lock; it is taken over after its lease")
                    }
                }
            }
            Ok(_) => {
                tracing::warn!(lock = %self.url(), "the lake lock is no longer ours; leaving it")
            }
            Err(e) => {
                tracing::warn!(lock = %self.url(), error = %e, "could not read the lake lock to release it")
            }
        }
    }
}

/// Reads the lock object `key`: its body and ETag, or `None` if there is none.
pub fn read_lock(s3: &S3, bucket: &str, key: &str) -> Result<Option<(LockBody, String)>, Error> {
    s3.block_on(fetch_lock(s3.session(), bucket, key))
}

/// [`read_lock`] inside the runtime.
async fn fetch_lock(
    s: &Session,
    bucket: &str,
    key: &str,
) -> Result<Option<(LockBody, String)>, Error> {
    let got = match s.get(bucket, key).await {
        Ok(got) => got,
        Err(e) if e.call.class == Class::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let body: LockBody = serde_json::from_slice(&got.bytes).map_err(|e| Error::CorruptLock {
        key: format!("s3://{bucket}/{key}"),
        reason: e.to_string(),
    })?;
    Ok(Some((body, got.etag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(holder: Holder, expires: DateTime<Utc>) -> LockBody {
        LockBody {
            v: 1,
            holder,
            acquired_at: rfc3339(expires - chrono::Duration::minutes(10)),
            expires_at: rfc3339(expires),
            lease_secs: 600,
        }
    }

    #[test]
    fn this_process_is_alive_and_a_dead_pid_on_this_machine_is_gone() {
        let me = Holder::current("r1");
        assert!(me.pid_start > 0, "{me:?}");
        assert!(!me.gone_from(&me));
        // A pid that reads as another process's start time: reused, so gone.
        let reused = Holder {
            pid_start: me.pid_start + 1,
            ..me.clone()
        };
        assert!(reused.gone_from(&me));
        // The same pid on another machine (or after a reboot) is judged by its lease only.
        for other in [
            Holder {
                host: "elsewhere".into(),
                ..reused.clone()
            },
            Holder {
                boot_id: "another-boot".into(),
                ..reused.clone()
            },
            Holder {
                pid_ns: "pid:[1]".into(),
                ..reused.clone()
            },
        ] {
            assert!(!other.gone_from(&me), "{other:?}");
        }
    }

    #[test]
    fn a_lock_is_stale_when_its_lease_is_over_or_its_local_holder_is_gone() {
        let me = Holder::current("r1");
        let t = now();
        let later = t + chrono::Duration::minutes(5);
        let earlier = t - chrono::Duration::seconds(1);
        let remote = Holder {
            host: "elsewhere".into(),
            ..me.clone()
        };
        assert!(!is_stale(&body(remote.clone(), later), &me, t));
        assert!(is_stale(&body(remote, earlier), &me, t));
        assert!(!is_stale(&body(me.clone(), later), &me, t));
        let dead = Holder {
            pid_start: me.pid_start + 1,
            ..me.clone()
        };
        assert!(is_stale(&body(dead, later), &me, t));
        let mut unreadable = body(me.clone(), later);
        unreadable.expires_at = "soon".into();
        assert!(is_stale(&unreadable, &me, t));
    }
}

//! What one task may reach and how much it may use: the [`Sandbox`] a policy resolved for its step,
//! turned into a WASI context with nothing ambient.
//!
//! Clocks and random numbers are **deterministic unless granted**: without `clock`, the wall clock
//! starts at the Unix epoch and both clocks advance one microsecond per reading; without `random`,
//! random bytes come from a fixed sequence. A step that asks for nothing is therefore a pure
//! function of its inputs.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime_wasi::{
    Deterministic, FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder,
};
pub use wflow_core::Sandbox;

use crate::logs::LogSink;

/// A limit a task hit; fails the attempt with its name and value.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("limit `{limit}` of {value} exceeded{detail}")]
pub struct LimitExceeded {
    /// The policy or step setting.
    pub limit: std::borrow::Cow<'static, str>,
    /// Its value, for people.
    pub value: String,
    /// What the task was doing.
    pub detail: String,
}

/// A clock that starts at zero and advances one microsecond per reading.
#[derive(Clone, Default)]
struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    fn tick(&self) -> u64 {
        self.0.fetch_add(1_000, Ordering::Relaxed) + 1_000
    }
}

impl HostWallClock for FakeClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(self.tick())
    }
}

impl HostMonotonicClock for FakeClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.tick()
    }
}

/// Builds the task's WASI context: only what the sandbox grants.
pub(crate) fn wasi_ctx(sb: &Sandbox, stdout: LogSink, stderr: LogSink) -> Result<WasiCtx, String> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout).stderr(stderr);
    for (k, v) in &sb.env {
        b.env(k, v);
    }
    for d in &sb.dirs {
        let perms = if d.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&d.host_path, &d.guest_path, perms)
            .map_err(|e| format!("cannot mount {} at {}: {e:#}", d.host_path, d.guest_path))?;
    }
    if !sb.clock {
        let clock = FakeClock::default();
        b.wall_clock(clock.clone()).monotonic_clock(clock);
    }
    if !sb.random {
        b.secure_random(Deterministic::new(b"wflow deterministic random".to_vec()))
            .insecure_random(Deterministic::new(b"wflow insecure random".to_vec()))
            .insecure_random_seed(0);
    }
    if !sb.network.is_empty() {
        let mut allowed: Vec<SocketAddr> = Vec::new();
        for dest in &sb.network {
            let addrs = dest
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve granted destination `{dest}`: {e}"))?;
            allowed.extend(addrs);
        }
        let allowed = Arc::new(allowed);
        b.allow_ip_name_lookup(true);
        b.socket_addr_check(move |addr, _use| {
            let ok = allowed.contains(&addr);
            Box::pin(async move { ok })
        });
    }
    Ok(b.build())
}

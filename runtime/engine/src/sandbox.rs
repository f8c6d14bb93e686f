//! What one task may reach and how much it may use: the [`Sandbox`] a policy resolved for its step,
//! turned into a WASI context with nothing ambient.
//!
//! Clocks and random numbers are **deterministic unless granted**: without `clock`, the wall clock
//! starts at the Unix epoch and both clocks advance one microsecond per reading; without `random`,
//! random bytes come from a fixed sequence. A step that asks for nothing is therefore a pure
//! function of its inputs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime_wasi::sockets::SocketAddrUse;
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

/// Clocks that start at the epoch and advance one microsecond per reading.
fn deterministic_clocks(b: &mut WasiCtxBuilder) {
    let clock = FakeClock::default();
    b.wall_clock(clock.clone()).monotonic_clock(clock);
}

/// Random numbers from a fixed sequence.
fn deterministic_random(b: &mut WasiCtxBuilder) {
    b.secure_random(Deterministic::new(b"wflow deterministic random".to_vec()))
        .insecure_random(Deterministic::new(b"wflow insecure random".to_vec()))
        .insecure_random_seed(0);
}

/// The WASI context of a guest's `spec()`: nothing granted, deterministic clocks and random
/// numbers, like a step that asks for nothing (so the spec, and the flow name the policy sees,
/// cannot depend on the time or on chance). Its stderr goes to `stderr` (the traceback of a
/// guest whose spec fails).
pub(crate) fn spec_ctx(stderr: LogSink) -> WasiCtx {
    let mut b = WasiCtxBuilder::new();
    b.stderr(stderr);
    deterministic_clocks(&mut b);
    deterministic_random(&mut b);
    b.build()
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
        deterministic_clocks(&mut b);
    }
    if !sb.random {
        deterministic_random(&mut b);
    }
    if !sb.network.is_empty() {
        let granted = Arc::new(sb.network.clone());
        // wasmtime-wasi refuses TCP and UDP altogether unless allowed (before any check).
        b.allow_tcp(true).allow_udp(true);
        b.allow_ip_name_lookup(
            granted
                .iter()
                .any(|d| host_of(d).parse::<IpAddr>().is_err()),
        );
        b.socket_addr_check(move |addr, use_| {
            let granted = granted.clone();
            Box::pin(async move { network_allows(&granted, addr, use_).await })
        });
    }
    Ok(b.build())
}

/// The host of a `host:port` destination (an IPv6 address may be in brackets).
pub(crate) fn host_of(dest: &str) -> &str {
    let host = dest.rsplit_once(':').map_or(dest, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Whether a socket may use `addr` for `use_`, given the granted `host:port` destinations.
///
/// Binding is allowed only to the wildcard address with port 0: the implicit bind wasmtime-wasi
/// checks before every outgoing connection (an explicit bind to a chosen port or address is not
/// needed to reach a destination). Connecting and sending go only to a granted destination, and
/// receiving only from one; a granted host name is resolved now, at connect time, so a name that
/// does not resolve fails the connection, not the building of the sandbox. Listening and
/// accepting are never allowed.
async fn network_allows(granted: &[String], addr: SocketAddr, use_: SocketAddrUse) -> bool {
    match use_ {
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
            addr.ip().is_unspecified() && addr.port() == 0
        }
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
            for dest in granted {
                let Some(port) = dest
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                else {
                    continue;
                };
                if port != addr.port() {
                    continue;
                }
                let host = host_of(dest);
                let found = match host.parse::<IpAddr>() {
                    Ok(ip) => ip == addr.ip(),
                    Err(_) => tokio::net::lookup_host((host, port))
                        .await
                        .is_ok_and(|mut addrs| addrs.any(|a| a.ip() == addr.ip())),
                };
                if found {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(granted: &[&str], addr: &str, use_: SocketAddrUse) -> bool {
        let granted: Vec<String> = granted.iter().map(|s| s.to_string()).collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(network_allows(&granted, addr.parse().unwrap(), use_))
    }

    #[test]
    fn a_granted_address_can_be_connected_to_through_the_implicit_bind() {
        // Issue 20: a grant of 127.0.0.1:18001 could never connect, because wasmtime-wasi first
        // checks an implicit bind to 0.0.0.0:0 and the check allowed only granted addresses.
        let g = ["127.0.0.1:18001"];
        assert!(allows(&g, "0.0.0.0:0", SocketAddrUse::TcpBind));
        assert!(allows(&g, "[::]:0", SocketAddrUse::TcpBind));
        assert!(allows(&g, "127.0.0.1:18001", SocketAddrUse::TcpConnect));
        assert!(
            !allows(&g, "127.0.0.1:18001", SocketAddrUse::TcpBind),
            "no explicit bind"
        );
        assert!(!allows(&g, "0.0.0.0:18001", SocketAddrUse::TcpBind));
        assert!(!allows(&g, "127.0.0.1:18002", SocketAddrUse::TcpConnect));
        assert!(!allows(&g, "10.0.0.1:18001", SocketAddrUse::TcpConnect));
        assert!(
            !allows(&g, "0.0.0.0:0", SocketAddrUse::TcpListen),
            "no listening"
        );
        assert!(!allows(&g, "127.0.0.1:18001", SocketAddrUse::TcpAccept));
        assert!(allows(&g, "127.0.0.1:18001", SocketAddrUse::UdpSend));
        assert!(!allows(&g, "127.0.0.1:53", SocketAddrUse::UdpSend));
        assert!(allows(
            &["[::1]:443"],
            "[::1]:443",
            SocketAddrUse::TcpConnect
        ));
    }

    #[test]
    fn host_names_are_resolved_when_connecting_and_may_not_resolve() {
        assert!(allows(
            &["localhost:80"],
            "127.0.0.1:80",
            SocketAddrUse::TcpConnect
        ));
        assert!(!allows(
            &["localhost:80"],
            "127.0.0.1:81",
            SocketAddrUse::TcpConnect
        ));
        assert!(!allows(
            &["no-such-host.invalid:80"],
            "127.0.0.1:80",
            SocketAddrUse::TcpConnect
        ));
        // Issue 21: a grant to a name that does not resolve failed building the sandbox.
        let sb = Sandbox {
            network: vec!["no-such-host.invalid:443".into()],
            ..Sandbox::default()
        };
        let sink = || LogSink::new(1024, None);
        assert!(wasi_ctx(&sb, sink(), sink()).is_ok());
    }
}

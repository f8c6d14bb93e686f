//! `wasi:sockets/ip-name-lookup`, limited to the host names the task was granted. Once lookups
//! are on, wasmtime-wasi resolves any name, and the names a step asks a resolver for are a way
//! out of the sandbox (data encoded in a name reaches whoever serves that domain). This wraps
//! wasmtime-wasi's implementation and refuses every name that is not the host of one of the
//! step's granted destinations, as if it did not resolve.

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, HostNetwork, IpAddress, Network,
};
use wasmtime_wasi::p2::{DynPollable, SocketError};
use wasmtime_wasi::sockets::{WasiSocketsCtxView, WasiSocketsView};

use crate::host::TaskState;

/// The interface's data: wasmtime-wasi's sockets view and the names that may be looked up.
pub(crate) struct GrantedLookup;

impl HasData for GrantedLookup {
    type Data<'a> = LookupView<'a>;
}

/// One call's view of a task.
pub(crate) struct LookupView<'a> {
    sockets: WasiSocketsCtxView<'a>,
    /// The hosts of the granted destinations, lower case.
    granted: Vec<String>,
}

/// The view of `state` (no names at all while the host only reads the flow's spec).
pub(crate) fn view(state: &mut TaskState) -> LookupView<'_> {
    let granted = state
        .task
        .as_ref()
        .map(|t| {
            t.input
                .sandbox
                .network
                .iter()
                .map(|d| crate::sandbox::host_of(d).to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    LookupView {
        sockets: state.sockets(),
        granted,
    }
}

/// Whether `name` is one of the `granted` hosts (lower case), ignoring case and a final dot.
fn may_look_up(granted: &[String], name: &str) -> bool {
    let wanted = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    granted.contains(&wanted)
}

impl Host for LookupView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        if !may_look_up(&self.granted, &name) {
            return Err(ErrorCode::PermanentResolverFailure.into());
        }
        Host::resolve_addresses(&mut self.sockets, network, name)
    }
}

// The error conversions the interface's bindings need, as wasmtime-wasi does them.
impl network::Host for LookupView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets, err)
    }
}

impl HostNetwork for LookupView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        HostNetwork::drop(&mut self.sockets, this)
    }
}

impl HostResolveAddressStream for LookupView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        self.sockets.resolve_next_address(stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.sockets, stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.sockets, stream)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_granted_hosts_may_be_looked_up() {
        let granted = vec!["db.internal".to_string(), "localhost".to_string()];
        for name in ["db.internal", "DB.Internal.", "localhost"] {
            assert!(super::may_look_up(&granted, name), "{name}");
        }
        for name in [
            "example.com",
            "secret-data.attacker.example",
            "db.internal.evil",
            "",
        ] {
            assert!(!super::may_look_up(&granted, name), "{name}");
        }
    }
}

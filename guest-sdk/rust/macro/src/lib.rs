//! The `#[flow]` and `#[steps]` attribute macros of the wflow guest SDK.
//!
//! Use them through the `wflow` crate (`#[wflow::flow]`, `#[wflow::steps]`), which documents them.
//! The expansions name only absolute `::wflow::…` paths and keep their helper items in anonymous
//! `const _: () = { … };` blocks.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod attrs;
mod flow;
mod steps;

/// Declares a flow's fields; see `wflow::flow`.
#[proc_macro_attribute]
pub fn flow(attr: TokenStream, item: TokenStream) -> TokenStream {
    flow::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a flow's steps; see `wflow::steps`.
#[proc_macro_attribute]
pub fn steps(attr: TokenStream, item: TokenStream) -> TokenStream {
    steps::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

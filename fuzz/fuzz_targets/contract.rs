//! The host side of `wflow:flow@0.1.0` through a real guest, against a model of the contract
//! (`wflow_fuzz::contract`).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wflow_fuzz::contract::{Target, guest_wasm};

static TARGET: OnceLock<Target> = OnceLock::new();

fuzz_target!(|data: &[u8]| TARGET.get_or_init(|| Target::new(&guest_wasm())).check(data));
